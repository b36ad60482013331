// Package gobench parses the result lines of `go test -bench` output (the standard benchmark
// format: name, iterations, then value-unit pairs such as "123 ns/op" or "9.8 Gbit/s").
package gobench
