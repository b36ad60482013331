//go:build unix

package httpserve

import "syscall"

// raiseFileLimit raises the soft limit on open files to n, or to the hard limit if lower, for
// tests that open many connections.
func raiseFileLimit(n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < n {
		lim.Cur = min(lim.Max, n)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
