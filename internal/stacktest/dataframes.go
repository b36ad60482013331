package stacktest

import (
	"encoding/binary"
	"sync"

	"github.com/unikit/unikit/netstack/link"
)

// DataFrames is a link that counts the IPv4 TCP frames with new data it transmits, for tests
// of how a write leaves the stack (a TSO super-frame counts as one). Retransmissions, such as
// a tail loss probe on a machine slow to acknowledge, are not counted: they say nothing about
// how the data was written. It follows the sequence numbers of one connection, so the link
// should carry only the connection under test.
type DataFrames struct {
	link.Link

	mu     sync.Mutex
	frames uint64 // frames with new data
	next   uint32 // the sequence number after the highest data sent
	seen   bool   // next is set
}

// Transmit counts the frames with new data and transmits them on the wrapped link.
func (l *DataFrames) Transmit(frames []link.Frame) (int, error) {
	for _, f := range frames {
		l.count(f)
	}
	return l.Link.Transmit(frames)
}

func (l *DataFrames) count(f link.Frame) {
	var hdr [128]byte // the frame's headers, whichever segments hold them
	n := 0
	for _, s := range f.Segments {
		n += copy(hdr[n:], s)
	}
	const eth = 14
	if n < eth+20 || binary.BigEndian.Uint16(hdr[12:]) != 0x0800 || hdr[eth+9] != 6 { // IPv4, TCP
		return
	}
	ihl := int(hdr[eth]&0x0f) * 4
	if n < eth+ihl+20 {
		return
	}
	tcp := hdr[eth+ihl:]
	payload := f.Len() - eth - ihl - int(tcp[12]>>4)*4
	if payload <= 0 {
		return
	}
	end := binary.BigEndian.Uint32(tcp[4:]) + uint32(payload)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen || int32(end-l.next) > 0 {
		l.frames++
		l.next, l.seen = end, true
	}
}

// Count returns the number of frames with new data transmitted so far.
func (l *DataFrames) Count() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frames
}
