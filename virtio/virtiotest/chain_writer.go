package virtiotest

// chainWriter writes bytes in order into the writable buffers of a list of chains.
type chainWriter struct {
	chains []Chain
	used   []int // bytes written into each chain
	ci, wi int   // current chain and writable buffer
	off    int   // offset in the current buffer
}

func (w *chainWriter) write(b []byte) {
	for len(b) > 0 && w.ci < len(w.chains) {
		c := &w.chains[w.ci]
		if w.wi >= len(c.Writable) {
			w.ci, w.wi, w.off = w.ci+1, 0, 0
			continue
		}
		n := copy(c.Writable[w.wi][w.off:], b)
		b = b[n:]
		w.off += n
		w.used[w.ci] += n
		if w.off == len(c.Writable[w.wi]) {
			w.wi, w.off = w.wi+1, 0
		}
	}
}

// each calls f for every written byte range in order, with its logical offset.
func (w *chainWriter) each(f func(off int, b []byte)) {
	off := 0
	for i := range w.chains {
		left := w.used[i]
		for _, b := range w.chains[i].Writable {
			if left == 0 {
				break
			}
			n := min(left, len(b))
			f(off, b[:n])
			off += n
			left -= n
		}
	}
}

// completeChecksum computes the Internet checksum of the bytes from logical offset start to
// the end (the checksum field holds the pseudo-header sum) and stores it at logical offset at.
func (w *chainWriter) completeChecksum(start, at int) {
	var sum uint64
	w.each(func(off int, b []byte) {
		for i, c := range b {
			o := off + i
			if o < start {
				continue
			}
			if (o-start)%2 == 0 {
				sum += uint64(c) << 8
			} else {
				sum += uint64(c)
			}
		}
	})
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	cs := ^uint16(sum)
	w.each(func(off int, b []byte) {
		for i := range b {
			switch off + i {
			case at:
				b[i] = byte(cs >> 8)
			case at + 1:
				b[i] = byte(cs)
			}
		}
	})
}
