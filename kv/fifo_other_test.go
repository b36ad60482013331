//go:build !unix

package kv

import "testing"

// mkfifo does nothing where there are no named pipes; the site then has no special file.
func mkfifo(*testing.T, string) {}
