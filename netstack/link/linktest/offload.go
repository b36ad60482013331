package linktest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

// The offload subtests: checksum offload and TSO round trips on links that claim them.

// tcpSegment is the part of a received TCP frame that reassembly needs.
type tcpSegment struct {
	seq     uint32
	payload []byte
}

// transportPayload returns the ports of a TCP or UDP frame and its payload, without Ethernet
// padding; ok is false for other frames.
func transportPayload(frame []byte) (h link.Headers, dstPort uint16, payload []byte, ok bool) {
	h, ok = link.LocateHeaders(frame)
	if !ok {
		return h, 0, nil, false
	}
	end := len(frame)
	if h.IPv6 {
		end = min(end, h.L4+int(binary.BigEndian.Uint16(frame[h.L3+4:])))
	} else {
		end = min(end, h.L3+int(binary.BigEndian.Uint16(frame[h.L3+2:])))
	}
	if end < h.Len {
		return h, 0, nil, false
	}
	return h, binary.BigEndian.Uint16(frame[h.L4+2:]), frame[h.Len:end], true
}

// checkOffloadFlags checks that a received frame carries only flags its link may deliver:
// FlagNeedsCsum and FlagDataValid need FeatureRxCsum.
func checkOffloadFlags(t *testing.T, rx link.Link, o link.Offload) {
	t.Helper()
	require.Zero(t, o.Flags&^(link.FlagNeedsCsum|link.FlagDataValid), "unknown offload flags %#x", o.Flags)
	if o.Flags != 0 {
		require.True(t, rx.Features().Has(link.FeatureRxCsum), "flags %#x from a link without FeatureRxCsum", o.Flags)
	}
}

// pattern returns n payload bytes that differ for each seed.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*41 + i*7 + i>>8)
	}
	return b
}

// checksumOffload sends TCP and UDP frames over IPv4 and IPv6 with FlagNeedsCsum and checks
// that each arrives with its checksum either still pending (on a peer with FeatureRxCsum) or
// completed, and otherwise unchanged.
func (s *suite) checksumOffload(t *testing.T) {
	p := s.pair(t)
	if !p.tx.Features().Has(link.FeatureTxCsum) {
		t.Skip("the link does not claim FeatureTxCsum")
	}
	s.start(t, p, nil)
	maxLen := p.mtuFrameLen()
	cases := []struct {
		v6, tcp bool
		payload int
	}{
		{false, false, 18},
		{false, true, 100},
		{true, false, 333},
		{true, true, 1000},
		{false, false, maxLen - link.EthernetHeaderLen - ipv4HeaderLen - udpHeaderLen},
		{true, true, maxLen - link.EthernetHeaderLen - ipv6HeaderLen - TCPHeaderLen},
	}
	for i, c := range cases {
		port := uint16(1000 + i)
		pk := Packet{SrcMAC: p.tx.MAC(), DstMAC: p.rx.MAC(), IPv6: c.v6, TCP: c.tcp,
			SrcPort: SuitePort, DstPort: port, Seq: 1e9, Ack: 1, Payload: pattern(i, c.payload)}
		f, off := pk.PartialFrame()
		complete := Completed(f, off)
		require.NoError(t, VerifyChecksums(complete, link.Offload{}), "the frame built for case %d", i)
		frame := link.Frame{Segments: [][]byte{f[:off.CsumStart], f[off.CsumStart:]}, Offload: off}
		require.NoError(t, transmitAll(p.tx, p.rec, []link.Frame{frame}), "case %d", i)
		r := p.rec.WaitMatch(t, fmt.Sprintf("checksum case %d", i), func(r Received) bool {
			_, dst, _, ok := transportPayload(r.Data)
			return ok && dst == port
		})
		checkOffloadFlags(t, p.rx, r.Offload)
		require.Equal(t, link.GSONone, r.Offload.GSOType, "case %d", i)
		require.NoError(t, VerifyChecksums(r.Data, r.Offload), "case %d: IPv6 %v, TCP %v, %d bytes", i, c.v6, c.tcp, len(f))
		require.True(t, bytes.Equal(complete, Completed(r.Data, r.Offload)), "case %d arrived changed", i)
	}
	require.Len(t, p.rec.Frames(), len(cases), "one frame per case")
}

// tso sends TCP super-frames (GSOTCPv4 or GSOTCPv6) and checks that the peer receives their
// payload exactly once, as GSO frames if it claims FeatureRxGRO or as segments no longer than
// its MTU, every one with valid checksums and the super-frame's addresses and ports.
func (s *suite) tso(t *testing.T, v6 bool) {
	p := s.pair(t)
	feature, gsoType, ipLen := link.FeatureTxTSO4, link.GSOTCPv4, ipv4HeaderLen
	if v6 {
		feature, gsoType, ipLen = link.FeatureTxTSO6, link.GSOTCPv6, ipv6HeaderLen
	}
	if !p.tx.Features().Has(feature) {
		t.Skipf("the link does not claim TSO for IPv6 %v", v6)
	}
	s.start(t, p, nil)
	hdr := link.EthernetHeaderLen + ipLen + TCPHeaderLen
	mss := min(p.tx.MTU(), p.rx.MTU()) - ipLen - TCPHeaderLen
	// The longest payload a frame of link.MaxGSOSize holds whose IP length still fits.
	longest := min(link.MaxGSOSize-hdr, 0xffff-ipLen-TCPHeaderLen)
	if v6 {
		longest = min(link.MaxGSOSize-hdr, 0xffff-TCPHeaderLen)
	}
	sentBytes := 0
	sizes := []int{3*mss + 17, longest}
	for k, size := range sizes {
		port := uint16(2000 + k)
		pk := Packet{SrcMAC: p.tx.MAC(), DstMAC: p.rx.MAC(), IPv6: v6, TCP: true,
			SrcPort: SuitePort, DstPort: port, Seq: 0xfffff000 + uint32(k), Ack: 77, IPID: 0x1000,
			Payload: pattern(k, size)}
		f, off := pk.TSOFrame(mss)
		require.Equal(t, gsoType, off.GSOType)
		require.LessOrEqual(t, len(f), link.MaxGSOSize)
		sentBytes += len(f)
		segs := [][]byte{f[:hdr], f[hdr : hdr+1000], f[hdr+1000:]}
		require.NoError(t, transmitAll(p.tx, p.rec, []link.Frame{{Segments: segs, Offload: off}}), "super-frame of %d bytes", len(f))
		frames := p.rec.WaitFor(t, fmt.Sprintf("%d payload bytes to port %d", size, port), func(fs []Received) bool {
			n := 0
			for _, r := range fs {
				if _, dst, pl, ok := transportPayload(r.Data); ok && dst == port {
					n += len(pl)
				}
			}
			return n >= size
		})
		s.checkTSO(t, p, f, &pk, gsoType, port, frames)
	}
	require.Eventually(t, func() bool {
		st := p.tx.Stats()
		return st.TxFrames == uint64(len(sizes)) && st.TxBytes == uint64(sentBytes)
	}, DefaultTimeout, time.Millisecond, "a super-frame counts as one frame sent: %+v", p.tx.Stats())
}

// checkTSO checks the frames received for the super-frame sent (built from pk) and
// reassembles its payload.
func (s *suite) checkTSO(t *testing.T, p *pair, sent []byte, pk *Packet, gsoType link.GSOType, port uint16, frames []Received) {
	t.Helper()
	sh, _ := link.LocateHeaders(sent)
	addrs := func(b []byte, h link.Headers) []byte {
		if h.IPv6 {
			return b[h.L3+8 : h.L3+40]
		}
		return b[h.L3+12 : h.L3+20]
	}
	var segs []tcpSegment
	gso := 0
	for _, r := range frames {
		h, dst, payload, ok := transportPayload(r.Data)
		if !ok || dst != port {
			continue
		}
		o := r.Offload
		if o.GSOType != link.GSONone {
			gso++
		}
		checkOffloadFlags(t, p.rx, o)
		if o.GSOType != link.GSONone {
			require.True(t, p.rx.Features().Has(link.FeatureRxGRO), "a GSO frame from a link without FeatureRxGRO")
			require.Equal(t, gsoType, o.GSOType&^link.GSOECN, "GSO type")
			require.NotZero(t, o.GSOSize, "GSO frame without a segment size")
			require.LessOrEqual(t, len(r.Data), link.MaxGSOSize, "GSO frame length")
		} else {
			require.LessOrEqual(t, len(r.Data), p.rx.MTU()+link.EthernetHeaderLen, "a segment longer than the MTU")
		}
		require.NoError(t, VerifyChecksums(r.Data, o), "a frame of %d bytes, offload %+v", len(r.Data), o)
		require.Equal(t, sh.IPv6, h.IPv6, "IP version")
		require.Equal(t, link.ProtoTCP, int(h.Proto), "protocol")
		require.Equal(t, addrs(sent, sh), addrs(r.Data, h), "IP addresses")
		require.Equal(t, sent[sh.L4:sh.L4+4], r.Data[h.L4:h.L4+4], "ports")
		require.Equal(t, pk.Ack, binary.BigEndian.Uint32(r.Data[h.L4+8:]), "acknowledgment number")
		require.NotEmpty(t, payload, "a segment without payload")
		segs = append(segs, tcpSegment{seq: binary.BigEndian.Uint32(r.Data[h.L4+4:]), payload: payload})
	}
	slices.SortFunc(segs, func(a, b tcpSegment) int {
		ra, rb := a.seq-pk.Seq, b.seq-pk.Seq // sequence numbers wrap
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	at := 0
	for _, sg := range segs {
		require.Equal(t, uint32(at), sg.seq-pk.Seq, "a gap or an overlap in the payload at byte %d", at)
		require.LessOrEqual(t, at+len(sg.payload), len(pk.Payload), "payload beyond the super-frame's")
		require.True(t, bytes.Equal(pk.Payload[at:at+len(sg.payload)], sg.payload), "payload bytes %d to %d differ", at, at+len(sg.payload))
		at += len(sg.payload)
	}
	require.Equal(t, len(pk.Payload), at, "payload bytes received")
	t.Logf("a super-frame of %d bytes arrived as %d frames, %d of them GSO frames", len(sent), len(segs), gso)
}
