//go:build !linux

package usernet

import "net"

// kernelParking is empty: only Linux has the epoll instance on which a host connection's relay
// direction parks; elsewhere it waits on its goroutine (kernelReadWaiter).
type kernelParking struct{}

// parkable returns c: host connections do not park here.
func (n *Network) parkable(c net.Conn) net.Conn { return c }
