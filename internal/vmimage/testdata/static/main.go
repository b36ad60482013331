// Command static is the smallest appliance: BuildAppliance tests build it.
package main

import "fmt"

func main() { fmt.Println("static") }
