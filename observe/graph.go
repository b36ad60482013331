package observe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Flow is one direction of a TCP connection: the data From sends To.
type Flow struct{ From, To netip.AddrPort }

// String returns the flow as ParseFlow reads it: "FROM-TO".
func (f Flow) String() string { return f.From.String() + "-" + f.To.String() }

// ErrNoFlow is returned for a flow a capture has no segment of.
var ErrNoFlow = errors.New("observe: no such TCP flow in the capture")

// ParseFlow parses "FROM-TO", e.g. "10.0.2.15:80-10.0.2.2:51234".
func ParseFlow(s string) (Flow, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		// IPv6 addresses have no '-', so the first '-' separates.
		return Flow{}, fmt.Errorf("observe: flow %q: want FROM-TO", s)
	}
	from, err := netip.ParseAddrPort(a)
	if err != nil {
		return Flow{}, fmt.Errorf("observe: flow %q: %w", s, err)
	}
	to, err := netip.ParseAddrPort(b)
	if err != nil {
		return Flow{}, fmt.Errorf("observe: flow %q: %w", s, err)
	}
	return Flow{from, to}, nil
}

// Busiest returns the flow of segs that carried the most payload, and false for a capture
// without TCP data.
func Busiest(segs []Segment) (Flow, bool) {
	bytes := map[Flow]int{}
	var best Flow
	for _, s := range segs {
		f := Flow{s.Src, s.Dst}
		bytes[f] += s.Len
		if bytes[f] > bytes[best] {
			best = f
		}
	}
	return best, bytes[best] > 0
}

// GraphStats is what a time-sequence graph shows.
type GraphStats struct {
	// Segments are the flow's segments drawn (data, SYN, FIN), Retransmits those of them that
	// resent a sequence range sent before, and Acks the other side's acknowledgements.
	Segments, Retransmits, Acks int
}

// graph sizes, in SVG user units.
const (
	graphW, graphH = 960.0, 540.0
	graphMargin    = 60.0
)

// point is one mark of the graph: a time and relative sequence numbers.
type point struct {
	t      time.Duration
	lo, hi int64
	retx   bool
}

// WriteGraph draws the time-sequence graph of flow f from segs, as tcptrace does: each
// segment From sent is a vertical bar from its first to its last sequence number at the
// time it was seen, a retransmission (a range sent before) in red; the green step line is
// the highest acknowledgement To returned, and the yellow one the right edge of the window it
// offered (ack + window, scaled when both SYNs carried the option). Sequence numbers are
// relative to the first one seen.
func WriteGraph(w io.Writer, segs []Segment, f Flow) (GraphStats, error) {
	var st GraphStats
	var t0 time.Time
	var base uint32
	var started bool
	var sent []point
	var acks, wins []point
	var highest int64
	sawSyn := false
	sendScale, recvScale := -1, -1
	rel := func(seq uint32) int64 { return int64(int32(seq - base)) }
	for _, s := range segs {
		fwd := s.Src == f.From && s.Dst == f.To
		rev := s.Src == f.To && s.Dst == f.From
		if !fwd && !rev {
			continue
		}
		if !started {
			if !fwd {
				continue // the graph starts with the sender's first segment
			}
			t0, base, started = s.Time, s.Seq, true
		}
		syn := s.Flags&uint8(header.TCPFlagSyn) != 0
		fin := s.Flags&uint8(header.TCPFlagFin) != 0
		if fwd {
			if syn {
				sendScale = s.WindowScale
			}
			if s.Len == 0 && !syn && !fin {
				continue // a pure ACK of the other direction's data
			}
			p := point{t: s.Time.Sub(t0), lo: rel(s.Seq), hi: rel(s.Seq) + int64(s.Len)}
			if syn || fin {
				p.hi++
			}
			p.retx = p.hi <= highest || syn && sawSyn
			sawSyn = sawSyn || syn
			highest = max(highest, p.hi)
			sent = append(sent, p)
			st.Segments++
			if p.retx {
				st.Retransmits++
			}
			continue
		}
		if syn {
			recvScale = s.WindowScale
		}
		if s.Flags&uint8(header.TCPFlagAck) == 0 {
			continue
		}
		win := int64(s.Window)
		if !syn && sendScale >= 0 && recvScale >= 0 {
			win <<= recvScale
		}
		a := rel(s.Ack)
		t := s.Time.Sub(t0)
		acks = append(acks, point{t: t, lo: a})
		wins = append(wins, point{t: t, lo: a + win})
		st.Acks++
	}
	if !started {
		return st, ErrNoFlow
	}
	var tmax time.Duration
	var ymax int64 = 1
	for _, ps := range [][]point{sent, acks, wins} {
		for _, p := range ps {
			tmax = max(tmax, p.t)
			ymax = max(ymax, p.hi, p.lo)
		}
	}
	tmax = max(tmax, time.Millisecond)
	x := func(t time.Duration) float64 {
		return graphMargin + float64(t)/float64(tmax)*(graphW-2*graphMargin)
	}
	y := func(v int64) float64 {
		return graphH - graphMargin - float64(v)/float64(ymax)*(graphH-2*graphMargin)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" font-family="sans-serif" font-size="12">`+"\n",
		graphW, graphH, graphW, graphH)
	fmt.Fprintf(bw, "<title>time-sequence graph %s</title>\n", f)
	bw.WriteString(`<style>.seg{stroke:#000}.retx{stroke:#d00;stroke-width:2}.ack{stroke:#0a0;fill:none}.win{stroke:#cc0;fill:none}.axis{stroke:#888}</style>` + "\n")
	fmt.Fprintf(bw, `<text x="%g" y="20">%s: %d segments, %d retransmitted, %d ACKs</text>`+"\n",
		graphMargin, f, st.Segments, st.Retransmits, st.Acks)
	fmt.Fprintf(bw, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/><line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`+"\n",
		graphMargin, graphH-graphMargin, graphW-graphMargin, graphH-graphMargin, graphMargin, graphMargin, graphMargin, graphH-graphMargin)
	fmt.Fprintf(bw, `<text x="%g" y="%g">0</text><text x="%g" y="%g" text-anchor="end">%v</text>`+"\n",
		graphMargin, graphH-graphMargin+16, graphW-graphMargin, graphH-graphMargin+16, tmax.Round(time.Microsecond))
	fmt.Fprintf(bw, `<text x="%g" y="%g" text-anchor="end">%d</text><text x="%g" y="%g" text-anchor="end">0</text>`+"\n",
		graphMargin-4, graphMargin, ymax, graphMargin-4, graphH-graphMargin)
	for _, line := range []struct {
		class string
		ps    []point
	}{{"win", wins}, {"ack", acks}} {
		if len(line.ps) == 0 {
			continue
		}
		fmt.Fprintf(bw, `<polyline class="%s" points="`, line.class)
		prev := line.ps[0].lo
		for i, p := range line.ps {
			if i > 0 {
				fmt.Fprintf(bw, "%.1f,%.1f ", x(p.t), y(prev)) // a step: hold the last value until now
			}
			fmt.Fprintf(bw, "%.1f,%.1f ", x(p.t), y(p.lo))
			prev = p.lo
		}
		bw.WriteString("\"/>\n")
	}
	for _, p := range sent {
		class := "seg"
		if p.retx {
			class = "retx"
		}
		fmt.Fprintf(bw, `<line class="%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>%v seq %d-%d</title></line>`+"\n",
			class, x(p.t), y(p.lo), x(p.t), y(p.hi), p.t, p.lo, p.hi)
	}
	bw.WriteString("</svg>\n")
	return st, bw.Flush()
}

// handleGraph serves /debug/netstack/graph?conn=FROM-TO (default: the busiest flow) from
// the ring of recent frames, and /debug/netstack/frames.pcap, the ring itself.
func (o *Observer) handleGraph() {
	o.mux.HandleFunc("GET /debug/netstack/frames.pcap", func(w http.ResponseWriter, _ *http.Request) {
		if o.frames == nil {
			http.Error(w, "no frames are kept", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
		o.frames.WriteTo(w)
	})
	o.mux.HandleFunc("GET /debug/netstack/graph", func(w http.ResponseWriter, r *http.Request) {
		if o.frames == nil {
			http.Error(w, "no frames are kept", http.StatusNotFound)
			return
		}
		var sb strings.Builder
		o.frames.WriteTo(&sb)
		segs, err := ReadSegments(strings.NewReader(sb.String()))
		if err != nil {
			http.Error(w, "the frame ring could not be read", http.StatusInternalServerError)
			return
		}
		f, ok := Busiest(segs)
		if c := r.FormValue("conn"); c != "" {
			if f, err = ParseFlow(c); err != nil {
				http.Error(w, "conn: want FROM-TO, e.g. 10.0.2.15:80-10.0.2.2:40000", http.StatusBadRequest)
				return
			}
		} else if !ok {
			http.Error(w, "no TCP data among the recent frames", http.StatusNotFound)
			return
		}
		var svg strings.Builder
		if _, err := WriteGraph(&svg, segs, f); err != nil {
			http.Error(w, "no segment of that connection among the recent frames", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		io.WriteString(w, svg.String())
	})
}
