package observe

import (
	"cmp"
	"encoding/json"
	"html/template"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/unikit/unikit/netstack"
)

// Connection is one TCP endpoint of the stack, as /debug/netstack/connections reports it.
type Connection struct {
	// Local and Remote are the endpoint's addresses; Remote is invalid for a listener.
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	// State is the TCP state ("ESTABLISHED", "LISTEN", "TIME-WAIT", ...).
	State string `json:"state"`
	// RTT and RTTVar are the smoothed round-trip time and its variation; RTO the
	// retransmission timeout.
	RTT    time.Duration `json:"rtt_ns"`
	RTTVar time.Duration `json:"rttvar_ns"`
	RTO    time.Duration `json:"rto_ns"`
	// Cwnd is the congestion window and Ssthresh the slow-start threshold, in segments.
	Cwnd     uint32 `json:"cwnd_segments"`
	Ssthresh uint32 `json:"ssthresh_segments"`
	// CongestionState is the congestion control's state ("open", "recovery", ...).
	CongestionState string `json:"congestion_state"`
	// ReceiveQueued is what has arrived and is not read yet; ReceiveBuffer and SendBuffer
	// are the buffers' sizes.
	ReceiveQueued int   `json:"receive_queued_bytes"`
	ReceiveBuffer int64 `json:"receive_buffer_bytes"`
	SendBuffer    int64 `json:"send_buffer_bytes"`
	// SegmentsSent and SegmentsReceived count the endpoint's segments; Retransmits how many it
	// retransmitted, FastRetransmits how many of those in fast recovery, and Timeouts how
	// often its retransmission timer fired.
	SegmentsSent     uint64 `json:"segments_sent"`
	SegmentsReceived uint64 `json:"segments_received"`
	Retransmits      uint64 `json:"retransmits"`
	FastRetransmits  uint64 `json:"fast_retransmits"`
	Timeouts         uint64 `json:"timeouts"`
}

// tcpEndpoints returns the stack's TCP endpoints, each once (a dual-stack listener is
// registered for IPv4 and IPv6).
func tcpEndpoints(s *netstack.Stack) []*tcp.Endpoint {
	var eps []*tcp.Endpoint
	seen := map[*tcp.Endpoint]bool{}
	for _, e := range s.TCPIP().RegisteredEndpoints() {
		if t, ok := e.(*tcp.Endpoint); ok && !seen[t] {
			seen[t] = true
			eps = append(eps, t)
		}
	}
	return eps
}

// Connections returns every TCP endpoint of s, sorted by local, then remote address.
func Connections(s *netstack.Stack) []Connection {
	var cs []Connection
	for _, e := range tcpEndpoints(s) {
		cs = append(cs, connection(e))
	}
	slices.SortFunc(cs, func(a, b Connection) int {
		return cmp.Or(a.Local.Compare(b.Local), a.Remote.Compare(b.Remote))
	})
	return cs
}

// connection reads one endpoint.
func connection(e *tcp.Endpoint) Connection {
	var c Connection
	if info, ok := e.Info().(*stack.TransportEndpointInfo); ok {
		c.Local = addrPort(info.ID.LocalAddress, info.ID.LocalPort)
		c.Remote = addrPort(info.ID.RemoteAddress, info.ID.RemotePort)
	}
	st := tcp.EndpointState(e.State())
	c.State = st.String()
	var ti tcpip.TCPInfoOption
	if err := e.GetSockOpt(&ti); err == nil {
		c.RTT, c.RTTVar, c.RTO = ti.RTT, ti.RTTVar, ti.RTO
		c.Cwnd, c.Ssthresh = ti.SndCwnd, ti.SndSsthresh
		c.CongestionState = congestionState(ti.CcState)
	}
	if n, err := e.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
		c.ReceiveQueued = n
	}
	c.ReceiveBuffer = e.SocketOptions().GetReceiveBufferSize()
	c.SendBuffer = e.SocketOptions().GetSendBufferSize()
	if es, ok := e.Stats().(*tcp.Stats); ok {
		c.SegmentsSent = es.SegmentsSent.Value()
		c.SegmentsReceived = es.SegmentsReceived.Value()
		c.Retransmits = es.SendErrors.Retransmits.Value()
		c.FastRetransmits = es.SendErrors.FastRetransmit.Value()
		c.Timeouts = es.SendErrors.Timeouts.Value()
	}
	return c
}

// addrPort converts a gVisor address: no address and no port (a listener's remote end) gives
// the invalid AddrPort, no address with a port (a listener on every address) [::]:port.
func addrPort(a tcpip.Address, port uint16) netip.AddrPort {
	ip, ok := netip.AddrFromSlice(a.AsSlice())
	switch {
	case ok:
		return netip.AddrPortFrom(ip.Unmap(), port)
	case port != 0:
		return netip.AddrPortFrom(netip.IPv6Unspecified(), port)
	}
	return netip.AddrPort{}
}

// congestionState names gVisor's congestion control state.
func congestionState(s tcpip.CongestionControlState) string {
	switch s {
	case tcpip.Open:
		return "open"
	case tcpip.RTORecovery:
		return "rto-recovery"
	case tcpip.FastRecovery:
		return "fast-recovery"
	case tcpip.SACKRecovery:
		return "sack-recovery"
	case tcpip.Disorder:
		return "disorder"
	}
	return "unknown"
}

// stateName is a TCP state as a metric label: "established", "syn_sent", ...
func stateName(s tcp.EndpointState) string {
	return strings.ToLower(strings.NewReplacer("-", "_", "WAIT1", "WAIT_1", "WAIT2", "WAIT_2", "RCVD", "RECV").Replace(s.String()))
}

// handleConnections serves /debug/netstack/connections: an HTML table, or JSON with
// ?format=json or "Accept: application/json".
func (o *Observer) handleConnections() {
	o.mux.HandleFunc("GET /debug/netstack/connections", func(w http.ResponseWriter, r *http.Request) {
		if o.stack == nil {
			http.Error(w, "no userspace stack (-net kernel)", http.StatusNotFound)
			return
		}
		cs := Connections(o.stack)
		if r.FormValue("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(cs)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		connectionsPage.Execute(w, cs)
	})
	o.handleGraph()
}

// connectionsPage is the HTML form of the connections.
var connectionsPage = template.Must(template.New("connections").Funcs(template.FuncMap{
	"dur": func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>TCP connections</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ccc;text-align:right}td:nth-child(-n+3){text-align:left}</style>
</head><body>
<h1>TCP connections ({{len .}})</h1>
<table>
<tr><th>local</th><th>remote</th><th>state</th><th>RTT</th><th>RTO</th><th>cwnd</th><th>ssthresh</th><th>cc</th><th>rx queued</th><th>rx buf</th><th>tx buf</th><th>segs out</th><th>segs in</th><th>retrans</th><th>timeouts</th><th></th></tr>
{{range .}}<tr><td>{{.Local}}</td><td>{{if .Remote.IsValid}}{{.Remote}}{{end}}</td><td>{{.State}}</td><td>{{dur .RTT}}</td><td>{{dur .RTO}}</td><td>{{.Cwnd}}</td><td>{{.Ssthresh}}</td><td>{{.CongestionState}}</td><td>{{.ReceiveQueued}}</td><td>{{.ReceiveBuffer}}</td><td>{{.SendBuffer}}</td><td>{{.SegmentsSent}}</td><td>{{.SegmentsReceived}}</td><td>{{.Retransmits}}</td><td>{{.Timeouts}}</td><td>{{if .Remote.IsValid}}<a href="graph?conn={{.Local}}-{{.Remote}}">graph</a>{{end}}</td></tr>
{{end}}</table>
<p><a href="connections?format=json">JSON</a></p>
</body></html>
`))
