package netstack_test

import (
	"net"
	"sync"

	"github.com/unikit/unikit/netstack/link"
)

// chanLink is half of a minimal in-memory link pair for this package's own tests, so they do
// not depend on the hosted links built on top of this package.
type chanLink struct {
	mac      net.HardwareAddr
	mtu      int
	features link.Features
	peer     *chanLink
	in       chan link.Frame
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	counters link.Counters
}

func newChanPair(mtu int, features link.Features) (*chanLink, *chanLink) {
	a := &chanLink{mac: net.HardwareAddr{0x02, 0, 0, 0, 0, 1}, mtu: mtu, features: features, in: make(chan link.Frame, 512), done: make(chan struct{})}
	b := &chanLink{mac: net.HardwareAddr{0x02, 0, 0, 0, 0, 2}, mtu: mtu, features: features, in: make(chan link.Frame, 512), done: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (l *chanLink) MAC() net.HardwareAddr   { return l.mac }
func (l *chanLink) MTU() int                { return l.mtu }
func (l *chanLink) Features() link.Features { return l.features }
func (l *chanLink) Up() bool                { return true }
func (l *chanLink) Stats() link.Stats       { return l.counters.Snapshot() }
func (l *chanLink) Release([]link.Frame)    {}

func (l *chanLink) Start(r link.Receiver) error {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		batch := make([]link.Frame, 1)
		for {
			select {
			case f := <-l.in:
				batch[0] = f
				l.counters.Received(1, f.Len())
				r.DeliverFrames(batch)
			case <-l.done:
				return
			}
		}
	}()
	return nil
}

func (l *chanLink) Transmit(frames []link.Frame) (int, error) {
	for i, f := range frames {
		var b []byte
		for _, s := range f.Segments {
			b = append(b, s...)
		}
		select {
		case l.peer.in <- link.Frame{Segments: [][]byte{b}, Offload: f.Offload}:
			l.counters.Sent(1, len(b))
		case <-l.done:
			return i, link.ErrClosed
		}
	}
	return len(frames), nil
}

func (l *chanLink) Close() error {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
	return nil
}

// Inject queues a raw frame as if it had arrived on the link.
func (l *chanLink) Inject(frame []byte) {
	select {
	case l.in <- link.Frame{Segments: [][]byte{frame}}:
	case <-l.done:
	}
}
