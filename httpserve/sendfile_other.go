//go:build !linux

package httpserve

import (
	"net"
	"os"
)

// sealBody returns nil: sealed in-memory files are Linux's (memfd_create).
func sealBody([]byte) *os.File { return nil }

// kernelWriter is Linux's; elsewhere no connection gets one and every body is written.
type kernelWriter struct{}

// newKernelWriter returns nil: bodies are written, not sent from files.
func newKernelWriter(net.Conn) *kernelWriter { return nil }

// send is never called: newKernelWriter makes no kernelWriter.
func (w *kernelWriter) send([]outSeg, []byte, [][]byte) error {
	panic("httpserve: no kernelWriter here")
}
