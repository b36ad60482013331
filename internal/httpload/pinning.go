package httpload

import "testing"

// Pinning places a comparison's client and servers on the machine's first two CPUs. The
// cross-link comparisons run under both, because which one handicaps a server depends on
// where the kernel does its share of the work: a veth pair's or a TAP device's receive work
// runs in softirq on whichever CPU the sender is on, so under Split the kernel anchor's TCP
// receive path competes with the client, while a userspace stack does its own on its core.
type Pinning struct {
	Name   string // sub-benchmark name
	Client string // taskset -c list for the client (wrk)
	Server string // taskset -c list for each server process
}

var (
	// Split gives the client CPU 0 and each server CPU 1; the kernel's receive work for the
	// virtual link runs where the kernel puts it.
	Split = Pinning{Name: "split", Client: "0", Server: "1"}
	// Shared leaves client and server free on both CPUs, as a machine serving its clients
	// from elsewhere would.
	Shared = Pinning{Name: "shared", Client: "0-1", Server: "0-1"}
	// Pinnings are the pinnings every cross-link comparison runs under, in order.
	Pinnings = []Pinning{Split, Shared}
)

// ForPinnings runs point as a sub-benchmark of b per pinning, named after it.
func ForPinnings(b *testing.B, point func(b *testing.B, p Pinning)) {
	for _, p := range Pinnings {
		b.Run(p.Name, func(b *testing.B) { point(b, p) })
	}
}

// Server is one contender of a comparison: Measure starts a fresh one, loads it and
// returns its figures; Name prefixes its metrics.
type Server struct {
	Name    string
	Measure func(b *testing.B) Measurement
}

// Round measures servers once each, in order, reports each one's figures as metrics of b
// prefixed with its name, logs them and returns them. Called once per run of a
// sub-benchmark that -count repeats, it interleaves the servers round by round (A, B, A, B,
// ... rather than A, A, B, B), so that a change in the machine's load during the run falls on
// every server alike.
func Round(b *testing.B, servers []Server) []Measurement {
	b.Helper()
	ms := make([]Measurement, len(servers))
	for i, s := range servers {
		ms[i] = s.Measure(b)
		b.Log(Report(b, s.Name, ms[i]))
	}
	return ms
}
