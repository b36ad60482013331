// Package israce reports whether the program was built with the race detector, for tests
// whose measurements the detector changes (allocation counts: sync.Pool drops items on
// purpose under -race) or that exercise known races in dependencies.
package israce
