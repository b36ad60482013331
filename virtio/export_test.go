package virtio

import "github.com/unikit/unikit/netstack/link"

// ReapRx runs one receive pass synchronously (as the receive goroutine does) and hands the
// frames to f, for tests that do not Start the link.
func (n *Net) ReapRx(f func([]link.Frame)) {
	k := n.reapRx(true)
	f(n.frames[:k])
	clear(n.frames[:k])
}

// AfterLent exposes afterLent: f runs once the closed link has every lent frame back.
func (n *Net) AfterLent(f func()) { n.afterLent(f) }
