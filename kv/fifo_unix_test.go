//go:build unix

package kv

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// mkfifo makes a named pipe at path: a special file that loading must skip.
func mkfifo(t *testing.T, path string) {
	require.NoError(t, syscall.Mkfifo(path, 0o644))
}
