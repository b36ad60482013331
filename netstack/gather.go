package netstack

import "io"

// gather is a tcpip.Payloader over a list of buffers, read as if they were one: handed to an
// endpoint's Write, it lets the endpoint take the bytes of every buffer in one call, so that a
// response's head and body queue as one segment. It copies nothing itself; the endpoint
// copies out of the buffers into its own.
type gather struct {
	bufs [][]byte
	at   gatherPos
}

// gatherPos is a position in a gather's buffers.
type gatherPos struct {
	i    int // the buffer
	off  int // the offset in bufs[i]
	left int // bytes from here to the end
}

// reset makes g read bufs from their start. reset(nil) drops the buffers.
func (g *gather) reset(bufs [][]byte) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	g.bufs = bufs
	g.at = gatherPos{left: n}
}

// Len returns the number of bytes not yet read.
func (g *gather) Len() int { return g.at.left }

// Read copies the next bytes into p. A Read of an empty p returns 0, nil while bytes remain,
// as gVisor's buffers expect when they probe for the end.
func (g *gather) Read(p []byte) (int, error) {
	if g.at.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.at.left > 0 {
		b := g.bufs[g.at.i][g.at.off:]
		m := copy(p[n:], b)
		n += m
		g.at.left -= m
		g.at.off += m
		if m == len(b) {
			g.at.i++
			g.at.off = 0
		}
	}
	return n, nil
}

// seek moves g to n bytes after position p: where the endpoint's consumption ended, whatever
// it read.
func (g *gather) seek(p gatherPos, n int) {
	p.left -= n
	for n > 0 {
		rest := len(g.bufs[p.i]) - p.off
		if n < rest {
			p.off += n
			break
		}
		n -= rest
		p.i++
		p.off = 0
	}
	g.at = p
}

// consume removes the first n bytes from v, as net.Buffers' own methods do: buffers written
// whole are dropped (and cleared, so v keeps no reference to them), a buffer written in part
// is resliced.
func consume(v *[][]byte, n int64) {
	for len(*v) > 0 {
		l := int64(len((*v)[0]))
		if n < l {
			(*v)[0] = (*v)[0][n:]
			return
		}
		n -= l
		(*v)[0] = nil
		*v = (*v)[1:]
	}
}
