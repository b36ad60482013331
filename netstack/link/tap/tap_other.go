//go:build !linux

package tap

import (
	"fmt"
	"net"
	"runtime"

	"github.com/unikit/unikit/netstack/link"
)

// Link is a [link.Link] over a Linux TAP device; outside Linux none can be opened.
type Link struct{}

var _ link.Link = (*Link)(nil)

// Open returns an error: TAP devices with virtio_net_hdr offloads exist only on Linux.
func Open(name string, cfg *Config) (*Link, error) {
	return nil, fmt.Errorf("tap: not implemented on %s", runtime.GOOS)
}

// Name returns the TAP device's interface name.
func (l *Link) Name() string { return "" }

// MAC implements [link.Link.MAC].
func (l *Link) MAC() net.HardwareAddr { return nil }

// MTU implements [link.Link.MTU].
func (l *Link) MTU() int { return 0 }

// Features implements [link.Link.Features].
func (l *Link) Features() link.Features { return 0 }

// Up implements [link.Link.Up].
func (l *Link) Up() bool { return false }

// Stats implements [link.Link.Stats].
func (l *Link) Stats() link.Stats { return link.Stats{} }

// OffloadStats returns how many frames used offloads so far.
func (l *Link) OffloadStats() OffloadStats { return OffloadStats{} }

// Start implements [link.Link.Start].
func (l *Link) Start(r link.Receiver) error { return link.ErrClosed }

// Release implements [link.Link.Release].
func (l *Link) Release(frames []link.Frame) {}

// Transmit implements [link.Link.Transmit].
func (l *Link) Transmit(frames []link.Frame) (int, error) { return 0, link.ErrClosed }

// Close implements [link.Link.Close].
func (l *Link) Close() error { return nil }
