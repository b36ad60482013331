package netstack

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Ping sends one ICMP (or ICMPv6) echo request to dst through the stack and waits for the
// matching reply, returning the round-trip time. The stack itself answers echo requests sent
// to its addresses; Ping is the other half, for diagnostics and tests.
func (s *Stack) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	if s.isClosed() {
		return 0, ErrStackClosed
	}
	dst = dst.Unmap()
	fa, netProto := fullAddress(netip.AddrPortFrom(dst, 0))
	transProto, echoReq := icmp.ProtocolNumber4, header.ICMPv4Echo
	hdrLen := header.ICMPv4MinimumSize
	if dst.Is6() {
		transProto, hdrLen = icmp.ProtocolNumber6, header.ICMPv6EchoMinimumSize
	}
	var wq waiter.Queue
	ep, terr := s.s.NewEndpoint(transProto, netProto, &wq)
	if terr != nil {
		return 0, opError("ping", "ip", dst.String(), sysError("socket", terr))
	}
	defer ep.Close()
	we, ready := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)

	// The endpoint sets the identifier and the checksum; the payload carries a sequence
	// marker so that a stale reply is not taken for this one.
	req := make([]byte, hdrLen+8)
	if dst.Is6() {
		req[0] = byte(header.ICMPv6EchoRequest)
	} else {
		req[0] = byte(echoReq)
	}
	marker := uint64(time.Now().UnixNano())
	binary.BigEndian.PutUint64(req[hdrLen:], marker)
	start := time.Now()
	var r bytes.Reader
	r.Reset(req)
	if _, terr := ep.Write(&r, tcpip.WriteOptions{To: &fa}); terr != nil {
		return 0, opError("ping", "ip", dst.String(), sysError("sendto", terr))
	}
	var reply bytes.Buffer
	for {
		reply.Reset()
		_, terr := ep.Read(&reply, tcpip.ReadOptions{})
		if _, wouldBlock := terr.(*tcpip.ErrWouldBlock); wouldBlock {
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return 0, opError("ping", "ip", dst.String(), ctx.Err())
			case <-s.closed:
				return 0, ErrStackClosed
			}
		}
		if terr != nil {
			return 0, opError("ping", "ip", dst.String(), sysError("recvfrom", terr))
		}
		b := reply.Bytes()
		if len(b) >= hdrLen+8 && binary.BigEndian.Uint64(b[hdrLen:]) == marker {
			return time.Since(start), nil
		}
	}
}
