package virtio

import "github.com/unikit/unikit/netstack"

// ReapRx runs one receive pass synchronously (as the receive goroutine does) and hands the
// frames to f, for tests that do not Start the link.
func (n *Net) ReapRx(f func([]netstack.Frame)) {
	k := n.reapRx()
	f(n.frames[:k])
	clear(n.frames[:k])
}
