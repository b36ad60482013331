package usernet

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsPort is the DNS port on the DNS address.
const dnsPort = 53

// maxDNSInFlight bounds the UDP queries being forwarded at once; further queries are dropped
// (the guest's resolver retries), so a flooding guest cannot make the host open unbounded
// sockets.
const maxDNSInFlight = 64

// maxDNSMessage is the largest DNS message relayed over UDP (EDNS0 allows up to 65535).
const maxDNSMessage = 65535

// errDNSNotQuery marks a message that is not a well-formed standard query.
var errDNSNotQuery = errors.New("usernet: not a DNS query")

// checkDNSQuery validates a DNS message from the guest before it is forwarded: a standard
// query (QR clear, opcode 0) with exactly one question whose name and type parse. It returns
// the header for the error reply when the message is a query whose question is malformed.
func checkDNSQuery(b []byte) (dnsmessage.Header, error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return h, errDNSNotQuery
	}
	if h.Response || h.OpCode != 0 {
		return h, errDNSNotQuery
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return h, errDNSNotQuery
	}
	return h, nil
}

// dnsError builds an answer with rcode to the query q, copying its ID, recursion-desired bit
// and question (if it parses). It returns nil when q has no parsable header.
func dnsError(q []byte, rcode dnsmessage.RCode) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		OpCode:             h.OpCode,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
		RCode:              rcode,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	if qs, err := p.AllQuestions(); err == nil && len(qs) == 1 {
		if err := b.Question(qs[0]); err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// readResolvConf returns the name servers of a resolv.conf file (port 53).
func readResolvConf(path string) []netip.AddrPort {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseResolvConf(f)
}

// parseResolvConf returns the addresses of the "nameserver" lines of a resolv.conf.
func parseResolvConf(r io.Reader) []netip.AddrPort {
	var out []netip.AddrPort
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, dnsPort))
	}
	return out
}

// serveDNS forwards the UDP DNS queries arriving on pc to the upstream resolvers until pc is
// closed. Each query is handled in its own goroutine, at most maxDNSInFlight at once.
func (n *Network) serveDNS(pc net.PacketConn) {
	sem := make(chan struct{}, maxDNSInFlight)
	buf := make([]byte, maxDNSMessage)
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			if n.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				n.log.Warn("usernet: DNS forwarder stopped", "err", err)
			}
			return
		}
		q := buf[:k]
		if _, err := checkDNSQuery(q); err != nil {
			if r := dnsError(q, dnsmessage.RCodeFormatError); r != nil {
				pc.WriteTo(r, from)
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // too many in flight: drop, the client retries
		}
		q = append([]byte(nil), q...)
		if !n.goAdd(func() {
			defer func() { <-sem }()
			r := n.exchangeUDP(q)
			if r == nil {
				r = dnsError(q, dnsmessage.RCodeServerFailure)
			}
			if r != nil {
				pc.WriteTo(r, from)
			}
		}) {
			return
		}
	}
}

// exchangeUDP sends q to each upstream resolver in turn and returns the first answer whose
// ID matches, or nil.
func (n *Network) exchangeUDP(q []byte) []byte {
	id := uint16(q[0])<<8 | uint16(q[1])
	bp := n.dnsBufs.Get().(*[]byte)
	defer n.dnsBufs.Put(bp)
	buf := *bp
	for _, up := range n.cfg.DNSUpstream {
		if n.ctx.Err() != nil {
			return nil
		}
		if r := n.exchangeOne(up, q, id, buf); r != nil {
			return append([]byte(nil), r...)
		}
	}
	return nil
}

func (n *Network) exchangeOne(up netip.AddrPort, q []byte, id uint16, buf []byte) []byte {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DNSTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", up.String())
	if err != nil {
		return nil
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(q); err != nil {
		return nil
	}
	for {
		k, err := c.Read(buf)
		if err != nil {
			return nil
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:k])
		if err != nil || !h.Response || h.ID != id {
			continue // not the answer: keep waiting until the deadline
		}
		return buf[:k]
	}
}

// serveDNSTCP relays DNS-over-TCP connections (used by resolvers after a truncated UDP
// answer) to the first upstream resolver that accepts a TCP connection.
func (n *Network) serveDNSTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !n.goAdd(func() {
			if !n.track(c) {
				c.Close()
				return
			}
			up := n.dialUpstreamTCP()
			n.untrack(c) // the relay tracks it from here
			if up == nil {
				c.Close()
				return
			}
			n.relay(c, up)
		}) {
			c.Close()
			return
		}
	}
}

func (n *Network) dialUpstreamTCP() net.Conn {
	for _, up := range n.cfg.DNSUpstream {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DNSTimeout)
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", up.String())
		cancel()
		if err == nil {
			return c
		}
	}
	return nil
}
