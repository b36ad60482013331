package observe

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/unikit/unikit/netstack/link/pcap"
)

// Defaults of [NewFrames]: the frames kept and how much of each. 128 bytes hold the Ethernet,
// IP and TCP headers with their options, which is all the time-sequence graph reads.
const (
	DefaultFrames  = 4096
	FramesSnaplen  = 128
	framesSlotSize = pcap.RecordHeaderLen + FramesSnaplen
)

// Frames is a ring of the last frames a link carried, as pcap records: the io.Writer a
// pcap.Link (netstack/link/pcap) writes to, with [FramesSnaplen] as its snap length. It keeps
// the newest records whole and drops the oldest; writing allocates nothing. Its methods are
// safe for concurrent use.
type Frames struct {
	mu       sync.Mutex
	header   [pcap.FileHeaderLen]byte
	hdrSeen  int      // bytes of the file header seen
	partial  []byte   // the record being assembled from the stream
	consumed int      // bytes of its frame read from the stream, kept or not
	slots    [][]byte // whole records, oldest at next once full
	next     int
	full     bool
}

// NewFrames returns a ring of n frames (0: [DefaultFrames]).
func NewFrames(n int) *Frames {
	if n <= 0 {
		n = DefaultFrames
	}
	f := &Frames{slots: make([][]byte, n), partial: make([]byte, 0, framesSlotSize)}
	for i := range f.slots {
		f.slots[i] = make([]byte, 0, framesSlotSize)
	}
	return f
}

// Write implements io.Writer for the pcap stream: the file header, then records. A record
// larger than FramesSnaplen is cut to it.
func (f *Frames) Write(p []byte) (int, error) {
	n := len(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hdrSeen < len(f.header) {
		c := copy(f.header[f.hdrSeen:], p)
		f.hdrSeen += c
		p = p[c:]
	}
	for len(p) > 0 {
		if len(f.partial) < pcap.RecordHeaderLen {
			c := min(pcap.RecordHeaderLen-len(f.partial), len(p))
			f.partial = append(f.partial, p[:c]...)
			p = p[c:]
			continue
		}
		want := int(binary.LittleEndian.Uint32(f.partial[8:12])) // captured length
		c := min(want-f.consumed, len(p))
		keep := min(c, max(FramesSnaplen-(len(f.partial)-pcap.RecordHeaderLen), 0))
		f.partial = append(f.partial, p[:keep]...)
		p = p[c:]
		f.consumed += c
		if f.consumed == want {
			f.store()
		}
	}
	return n, nil
}

// store moves the assembled record into the ring.
func (f *Frames) store() {
	rec := f.partial
	if c := len(rec) - pcap.RecordHeaderLen; c < int(binary.LittleEndian.Uint32(rec[8:12])) {
		binary.LittleEndian.PutUint32(rec[8:12], uint32(c)) // cut to the snap length
	}
	f.slots[f.next] = append(f.slots[f.next][:0], rec...)
	f.next++
	if f.next == len(f.slots) {
		f.next, f.full = 0, true
	}
	f.partial, f.consumed = f.partial[:0], 0
}

// WriteTo writes the frames kept, oldest first, as a pcap file.
func (f *Frames) WriteTo(w io.Writer) (int64, error) {
	f.mu.Lock()
	buf := make([]byte, 0, pcap.FileHeaderLen+len(f.slots)*framesSlotSize)
	hdr := f.header
	if f.hdrSeen < len(hdr) { // nothing written yet: an empty capture
		binary.LittleEndian.PutUint32(hdr[0:], pcap.MagicMicroseconds)
		binary.LittleEndian.PutUint16(hdr[4:], 2)
		binary.LittleEndian.PutUint16(hdr[6:], 4)
		binary.LittleEndian.PutUint32(hdr[20:], pcap.LinkTypeEthernet)
	}
	binary.LittleEndian.PutUint32(hdr[16:], FramesSnaplen)
	buf = append(buf, hdr[:]...)
	if f.full {
		for _, s := range f.slots[f.next:] {
			buf = append(buf, s...)
		}
	}
	for _, s := range f.slots[:f.next] {
		buf = append(buf, s...)
	}
	f.mu.Unlock()
	n, err := w.Write(buf)
	return int64(n), err
}
