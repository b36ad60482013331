// Package observe lets an appliance be looked inside while it runs, over a debug listener of
// its own stack: Go's profiles (/debug/pprof/...), execution traces carrying the library's
// own events (tasks and regions named "unikit."), a flight recorder of the last seconds
// (/debug/flightrecorder), metrics in the Prometheus exposition format (/metrics), the stack's
// TCP connections (/debug/netstack/connections) and a time-sequence graph of one connection,
// drawn as tcptrace draws them, from a capture or from a ring of recent frames.
//
// An [Observer] is an http.Handler. It registers nothing on http.DefaultServeMux (it does not
// import net/http/pprof, whose import would), so an application's public port never serves
// these paths by accident; serve the Observer on a port of its own. With a token set every
// request must carry "Authorization: Bearer TOKEN".
//
// The library's trace annotations, which `go tool trace` lists under its user tasks and
// regions:
//
//	unikit.http.request    task: one HTTP/1.1 request on httpserve's fast path or ServeHTTP
//	unikit.http.prepare    region: resolving it to a prepared response and queueing that
//	unikit.http.write      region: writing queued responses to the connection
//	unikit.link.rx, .tx    regions: a batch of frames through netstack's link adapter
//	unikit.virtio.rx, .tx  regions: a batch through the virtio-net driver
//	unikit.xen.rx, .tx     regions: a batch through Xen's netfront
//	unikit.dhcp.exchange   task: a DHCP message and its retransmissions until the answer
//
// The metrics are read at scrape time from the counters the stack, its links, httpserve and
// the DHCP client keep anyway, so a request or a frame costs nothing more for them. The trace
// annotations cost one check of [runtime/trace.IsEnabled] when no trace is being taken.
package observe
