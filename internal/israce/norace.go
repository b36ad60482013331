//go:build !race

package israce

// Enabled is true when the program is built with -race.
const Enabled = false
