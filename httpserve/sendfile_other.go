//go:build !linux || !(amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || mips64 || mips64le)

package httpserve

import (
	"net"
	"os"
)

// sealBody returns nil: bodies are sent from sealed files on 64-bit Linux only.
func sealBody([]byte) *os.File { return nil }

// kernelWriter is 64-bit Linux's; here no connection gets one and every body is written.
type kernelWriter struct{}

// newKernelWriter returns nil: bodies are written, not sent from files.
func newKernelWriter(net.Conn) *kernelWriter { return nil }

// send is never called: newKernelWriter makes no kernelWriter.
func (w *kernelWriter) send([]outSeg, []byte, [][]byte) error {
	panic("httpserve: no kernelWriter here")
}

// read is never called: newKernelWriter makes no kernelWriter.
func (w *kernelWriter) read([]byte) (int, error) {
	panic("httpserve: no kernelWriter here")
}
