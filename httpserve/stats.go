package httpserve

import (
	"context"
	"log/slog"
	"time"
)

// Stats are a Server's counters.
type Stats struct {
	// Requests is the number of requests answered.
	Requests uint64
	// Status counts responses by class: Status[1] is 1xx … Status[5] is 5xx.
	Status [6]uint64
	// Bytes is the number of response bytes written (heads and bodies) by the fast path and
	// ServeHTTP bodies.
	Bytes uint64
	// Conns is the number of connections open now; Accepted how many were accepted;
	// Refused how many were closed at once because of MaxConns.
	Conns, Accepted, Refused uint64
	// HandedOff counts connections handed to net/http (Fallback) or HTTP/2.
	HandedOff uint64
	// Prepared counts the requests answered with a response prepared when the site was
	// loaded (the built-in error pages among them): every request but those Fallback answered.
	Prepared uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Requests:  s.requests.Load(),
		Bytes:     s.bytes.Load(),
		Conns:     uint64(max(s.open.Load(), 0)),
		Accepted:  s.accepted.Load(),
		Refused:   s.refused.Load(),
		HandedOff: s.handedOff.Load(),
		Prepared:  s.prepared.Load(),
	}
	for i := range st.Status {
		st.Status[i] = s.status[i].Load()
	}
	return st
}

// countResponse records one answered request in the counters behind Stats.
func (s *Server) countResponse(status, size int) {
	s.requests.Add(1)
	if c := status / 100; c >= 1 && c <= 5 {
		s.status[c].Add(1)
	}
	s.bytes.Add(uint64(size))
}

// countPrepared records one request answered with a prepared response.
func (s *Server) countPrepared(status, size int) {
	s.prepared.Add(1)
	s.countResponse(status, size)
}

// logAccess writes one record of an answered request to Config.AccessLog, if there is one.
func (s *Server) logAccess(req *request, status, size int, proto, remote string, d time.Duration) {
	l := s.cfg.AccessLog
	if l == nil {
		return
	}
	l.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", req.method),
		slog.String("host", req.host),
		slog.String("path", req.path),
		slog.Int("status", status),
		slog.Int("bytes", size),
		slog.Duration("duration", d),
		slog.String("remote", remote),
		slog.String("proto", proto))
}
