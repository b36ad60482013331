//go:build !linux

package tap

import (
	"fmt"
	"net"
	"runtime"

	"github.com/unikit/unikit/netstack"
)

// Link is a [netstack.Link] over a Linux TAP device; outside Linux none can be opened.
type Link struct{}

var _ netstack.Link = (*Link)(nil)

// Open returns an error: TAP devices with virtio_net_hdr offloads exist only on Linux.
func Open(name string, cfg *Config) (*Link, error) {
	return nil, fmt.Errorf("tap: not implemented on %s", runtime.GOOS)
}

// Name returns the TAP device's interface name.
func (l *Link) Name() string { return "" }

// MAC implements [netstack.Link.MAC].
func (l *Link) MAC() net.HardwareAddr { return nil }

// MTU implements [netstack.Link.MTU].
func (l *Link) MTU() int { return 0 }

// Features implements [netstack.Link.Features].
func (l *Link) Features() netstack.Features { return 0 }

// Up implements [netstack.Link.Up].
func (l *Link) Up() bool { return false }

// Stats implements [netstack.Link.Stats].
func (l *Link) Stats() netstack.LinkStats { return netstack.LinkStats{} }

// OffloadStats returns how many frames used offloads so far.
func (l *Link) OffloadStats() OffloadStats { return OffloadStats{} }

// Start implements [netstack.Link.Start].
func (l *Link) Start(r netstack.Receiver) error { return netstack.ErrClosed }

// Release implements [netstack.Link.Release].
func (l *Link) Release(frames []netstack.Frame) {}

// Transmit implements [netstack.Link.Transmit].
func (l *Link) Transmit(frames []netstack.Frame) (int, error) { return 0, netstack.ErrClosed }

// Close implements [netstack.Link.Close].
func (l *Link) Close() error { return nil }
