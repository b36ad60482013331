//go:build unix

package usernet

import (
	"net"

	"golang.org/x/sys/unix"
)

// kernelReadWaiter returns a function that blocks until a Read of c would not block, in the
// runtime's poller, without reading: it peeks at one byte without waiting, and when there is
// none (EAGAIN) lets the poller wait for the socket to become readable. Data, EOF and a
// pending error all end the wait; the Read that follows reports them.
func kernelReadWaiter(c *net.TCPConn) func() error {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	var b [1]byte
	peek := func(fd uintptr) bool {
		for {
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch err {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			}
			return true
		}
	}
	return func() error { return rc.Read(peek) }
}
