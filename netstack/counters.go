package netstack

import "sync/atomic"

// LinkCounters are the atomic counters behind [LinkStats], for links to embed or hold. The
// zero value is ready to use; the methods are safe for concurrent use and do not allocate.
type LinkCounters struct {
	rxFrames, rxBytes, rxDropped, rxErrors atomic.Uint64
	txFrames, txBytes, txDropped, txErrors atomic.Uint64
}

// Received counts frames delivered to the receiver and their bytes.
func (c *LinkCounters) Received(frames, bytes int) {
	c.rxFrames.Add(uint64(frames))
	c.rxBytes.Add(uint64(bytes))
}

// Sent counts frames accepted for transmission and their bytes.
func (c *LinkCounters) Sent(frames, bytes int) {
	c.txFrames.Add(uint64(frames))
	c.txBytes.Add(uint64(bytes))
}

// RxDropped counts n received frames that were not delivered.
func (c *LinkCounters) RxDropped(n int) { c.rxDropped.Add(uint64(n)) }

// RxError counts a receive error.
func (c *LinkCounters) RxError() { c.rxErrors.Add(1) }

// TxDropped counts n frames dropped on transmit.
func (c *LinkCounters) TxDropped(n int) { c.txDropped.Add(uint64(n)) }

// TxError counts a transmit error.
func (c *LinkCounters) TxError() { c.txErrors.Add(1) }

// Snapshot returns the current values.
func (c *LinkCounters) Snapshot() LinkStats {
	return LinkStats{
		RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(),
		RxDropped: c.rxDropped.Load(), RxErrors: c.rxErrors.Load(),
		TxFrames: c.txFrames.Load(), TxBytes: c.txBytes.Load(),
		TxDropped: c.txDropped.Load(), TxErrors: c.txErrors.Load(),
	}
}
