package link

import "sync/atomic"

// Stats are a link's counters. Links count what they see at their own boundary.
type Stats struct {
	RxFrames  uint64 // frames delivered to the receiver
	RxBytes   uint64 // bytes of those frames
	RxDropped uint64 // frames received but not delivered (malformed, too large, no receiver)
	RxErrors  uint64 // receive errors reported by the device or transport
	TxFrames  uint64 // frames accepted by Transmit
	TxBytes   uint64 // bytes of those frames
	TxDropped uint64 // frames dropped on transmit (link down, impairment, queue full)
	TxErrors  uint64 // transmit errors reported by the device or transport
}

// Counters are the atomic counters behind [Stats], for links to embed or hold. The
// zero value is ready to use; the methods are safe for concurrent use and do not allocate.
type Counters struct {
	rxFrames, rxBytes, rxDropped, rxErrors atomic.Uint64
	txFrames, txBytes, txDropped, txErrors atomic.Uint64
}

// Received counts frames delivered to the receiver and their bytes.
func (c *Counters) Received(frames, bytes int) {
	c.rxFrames.Add(uint64(frames))
	c.rxBytes.Add(uint64(bytes))
}

// Sent counts frames accepted for transmission and their bytes.
func (c *Counters) Sent(frames, bytes int) {
	c.txFrames.Add(uint64(frames))
	c.txBytes.Add(uint64(bytes))
}

// RxDropped counts n received frames that were not delivered.
func (c *Counters) RxDropped(n int) { c.rxDropped.Add(uint64(n)) }

// RxError counts a receive error.
func (c *Counters) RxError() { c.rxErrors.Add(1) }

// TxDropped counts n frames dropped on transmit.
func (c *Counters) TxDropped(n int) { c.txDropped.Add(uint64(n)) }

// TxError counts a transmit error.
func (c *Counters) TxError() { c.txErrors.Add(1) }

// Snapshot returns the current values.
func (c *Counters) Snapshot() Stats {
	return Stats{
		RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(),
		RxDropped: c.rxDropped.Load(), RxErrors: c.rxErrors.Load(),
		TxFrames: c.txFrames.Load(), TxBytes: c.txBytes.Load(),
		TxDropped: c.txDropped.Load(), TxErrors: c.txErrors.Load(),
	}
}
