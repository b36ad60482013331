//go:build !unix

package usernet

import "net"

// kernelReadWaiter returns nil: only Unix systems let the relay wait for a kernel socket
// without reading from it, so elsewhere it waits in Read with a buffer.
func kernelReadWaiter(*net.TCPConn) func() error { return nil }
