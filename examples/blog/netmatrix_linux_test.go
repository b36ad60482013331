package main

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// BenchmarkNetMatrix serves the static HTTP matrix (httpload.Sizes × httpload.Conns) from the
// blog appliance, httpserve on its own userspace stack, over each hosted link, and from nginx
// on kernel sockets across a veth pair, under both pinnings (httpload.Pinnings), as
// sub-benchmarks PINNING/SIZE/cCONNS. Each run of a sub-benchmark is one round of its point:
// it measures the servers in turn, so that -count repeats them round by round within the
// point (user, tap, vhost-user, nginx-veth, user, ...), and reports each one's figures as
// metrics prefixed with its name:
//
//	user        -net user: wrk reaches the stack on 127.0.0.1 through the embedded network's
//	            port forward; httpserve's BenchmarkWrkMatrix has its anchor, nginx on loopback.
//	tap         -net tap: the TAP device lives in a namespace, where wrk runs.
//	vhost-user  -net vhost-user: the virtio driver against testpmd's vhost-user port, which
//	            testpmd forwards to a TAP device (net_tap) in a namespace where wrk runs.
//	            testpmd busy-polls CPU 1 while it runs (it is started for this server's turn
//	            and stopped after it), so the blog and wrk share CPU 0 under either pinning,
//	            and the server's CPU time is the blog's and testpmd's.
//	nginx-veth  nginx in one namespace, wrk in another, across a veth pair: the kernel's
//	            answer to tap and vhost-user, their anchor.
//
// tap and nginx-veth, the pair issue 16's targets judge, are measured in every round; user and
// vhost-user only in the first sideRoundsEnv rounds of each point (default: every round), so
// that a full run can afford several rounds of the judged pair.
//
// Under split wrk runs on CPU 0 and each server on CPU 1; under shared both are free on CPUs
// 0-1; in both the kernel does the veth's and the TAP device's receive work wherever it
// runs. wrk runs two threads. Each server is fresh, warmed up for a second and measured for
// UNIKIT_WRK_SECONDS (default 3), the judged pair at 500 connections for at least 10 s
// (judgedDuration) and every server at 1 MiB × 500 too (httpload.PointDuration):
// requests/s, the server's CPU time per request (the blog's includes its stack, and with
// -net user the host side of the network too), the whole machine's CPU time per request
// (/proc/stat), latency percentiles and peak resident memory. At 1 MiB × 500 a round in
// which a server completed no response is a result (0 requests/s, httpload.Report), not a
// failure of the point's other rounds. It needs root, wrk, nginx,
// taskset and, for vhost-user, dpdk-testpmd:
//
//	go test ./examples/blog -run '^$' -bench 'NetMatrix/split/4KiB/c50' -benchtime 1x -count 3
func BenchmarkNetMatrix(b *testing.B) {
	peers.Root(b)
	bin := apptest.Build(b)
	site := b.TempDir()
	for _, sz := range httpload.Sizes {
		require.NoError(b, os.WriteFile(filepath.Join(site, sz.Name+".html"), httpload.Page(sz.Bytes), 0o644))
	}
	dur := httpload.Seconds(3 * time.Second)
	sideRounds := envRounds(sideRoundsEnv)
	targets := make([]matrixTarget, len(matrixLinks))
	for i, link := range matrixLinks {
		targets[i] = link.setup(b, bin, site)
	}
	rounds := map[string]int{} // rounds run so far, by sub-benchmark
	httpload.ForPinnings(b, func(b *testing.B, pin httpload.Pinning) {
		httpload.ForMatrix(b, func(b *testing.B, size httpload.Size, conns int) {
			round := rounds[b.Name()]
			rounds[b.Name()]++
			var servers []httpload.Server
			for i, link := range matrixLinks {
				if !link.judged && sideRounds > 0 && round >= sideRounds {
					continue
				}
				target := targets[i]
				d := httpload.PointDuration(dur, size, conns)
				if link.judged {
					d = judgedDuration(d, conns)
				}
				servers = append(servers, httpload.Server{Name: link.name, Measure: func(b *testing.B) httpload.Measurement {
					srv := target.start(b, pin)
					defer srv.stop()
					wrkCPUs := pin.Client
					if target.wrkCPUs != "" {
						wrkCPUs = target.wrkCPUs
					}
					return httpload.Measure(b, srv.pids, size.Bytes, httpload.Load{URL: srv.base + "/" + size.Name + ".html",
						Threads: 2, Conns: conns, Duration: d, CPUs: wrkCPUs, NS: target.client,
						AllowNone: httpload.LongPoint(size, conns)})
				}})
			}
			httpload.Round(b, servers)
		})
	})
}

// sideRoundsEnv sets in how many rounds of each point BenchmarkNetMatrix measures the links
// no target judges (user and vhost-user); unset or not a positive number: every round.
const sideRoundsEnv = "UNIKIT_SIDE_ROUNDS"

// envRounds returns the positive number the environment variable name holds, or 0.
func envRounds(name string) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return 0
}

// A judged server is measured for at least judgedLong at judgedConns connections or more.
const (
	judgedConns = 500
	judgedLong  = 10 * time.Second
)

// judgedDuration is how long the judged pair is measured at a point whose other servers are
// measured for d: at least 10 s at 500 connections. There the 500 responses share the link
// and complete in waves a response time apart (at 1 MiB 0.2-1 s for nginx, 0.5-1.5 s for the
// blog over TAP), none before the first: a 3 s window holds a few waves, and where it starts
// and ends moves the count by a large share. In the same interleaved rounds (under load), 3 s
// runs read the blog over TAP at 1 MiB × 500 at 1.12-1.56× nginx, 10 s runs at 0.63-1.01×.
func judgedDuration(d time.Duration, conns int) time.Duration {
	if conns >= judgedConns {
		return max(d, judgedLong)
	}
	return d
}

// matrixLink is one server configuration of BenchmarkNetMatrix.
type matrixLink struct {
	name string // metric prefix
	// judged: a target of issue 16 judges this server (the blog over TAP, or its anchor), so
	// it is measured in every round of a point, for at least judgedDuration.
	judged bool
	// setup prepares the network once for every point (namespaces, devices).
	setup func(b *testing.B, bin, site string) matrixTarget
}

// matrixTarget is a prepared network: how to start a fresh server in it and where wrk runs.
type matrixTarget struct {
	start   func(b *testing.B, pin httpload.Pinning) matrixServer
	client  *netns.NS // wrk's namespace; nil: this one
	wrkCPUs string    // wrk's CPUs whatever the pinning; "": the pinning's
}

// matrixServer is a running server of BenchmarkNetMatrix.
type matrixServer struct {
	pids []int  // the processes whose CPU time is the server's, the server first
	base string // "http://HOST:PORT"
	stop func()
}

var matrixLinks = []matrixLink{
	{"user", false, setupUser},
	{"tap", true, setupTAP},
	{"vhost-user", false, setupVhostUser},
	{"nginx-veth", true, setupNginxVeth},
}

// startBlog starts the blog binary serving site with the given network flags, pinned to
// cpus, inside ns if not nil. It is killed by stop, or when b ends.
func startBlog(b *testing.B, ns *netns.NS, cpus, bin, site string, netFlags ...string) matrixServer {
	cmd := httpload.Pinned(b, ns, cpus, bin, append([]string{"-site", site}, netFlags...)...)
	base := apptest.Start(b, cmd)
	return matrixServer{pids: []int{cmd.Process.Pid}, base: base, stop: func() { stopCmd(cmd) }}
}

// stopCmd kills a server and waits for it, so that the next server has the CPUs to itself.
func stopCmd(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

func setupUser(b *testing.B, bin, site string) matrixTarget {
	return matrixTarget{start: func(b *testing.B, pin httpload.Pinning) matrixServer {
		return startBlog(b, nil, pin.Server, bin, site, "-net", "user", "-listen", "127.0.0.1:0")
	}}
}

// Addresses of the namespaced links: the kernel's side is .1, the server .2.
var (
	tapNet   = netip.MustParsePrefix("10.81.0.0/24")
	vhostNet = netip.MustParsePrefix("10.82.0.0/24")
	vethNet  = netip.MustParsePrefix("10.83.0.0/24")
)

// hostPrefix returns the n-th address of p with p's length (n = 1: 10.81.0.1/24).
func hostPrefix(p netip.Prefix, n int) netip.Prefix {
	a := p.Addr().As4()
	a[3] = byte(n)
	return netip.PrefixFrom(netip.AddrFrom4(a), p.Bits())
}

// staticFlags are the blog's network flags for a link with the kernel at .1 and the blog at .2.
func staticFlags(p netip.Prefix) []string {
	return []string{"-ip", hostPrefix(p, 2).String(), "-gw", hostPrefix(p, 1).Addr().String()}
}

func setupTAP(b *testing.B, bin, site string) matrixTarget {
	ns := netns.New(b)
	tap := netns.UniqueName("ukmt")
	ns.AddTAP(b, tap, true)
	ns.AddAddr(b, tap, hostPrefix(tapNet, 1))
	ns.LinkUp(b, tap)
	return matrixTarget{client: ns, start: func(b *testing.B, pin httpload.Pinning) matrixServer {
		// Every blog has a new MAC address: forget the previous one's.
		ns.IP(b, "neigh", "flush", "dev", tap)
		return startBlog(b, ns, pin.Server, bin, site, append([]string{"-net", "tap:" + tap}, staticFlags(tapNet)...)...)
	}}
}

// setupVhostUser starts testpmd for each server's turn only: its busy polling would take
// CPU 1 from the other servers.
func setupVhostUser(b *testing.B, bin, site string) matrixTarget {
	peers.Program(b, "dpdk-testpmd", "dpdk")
	ns := netns.New(b)
	return matrixTarget{client: ns, wrkCPUs: "0", start: func(b *testing.B, _ httpload.Pinning) matrixServer {
		tap := netns.UniqueName("ukmv")
		pmd := dpdk.Start(b, &dpdk.Options{NS: ns, TAP: tap, Lcores: "0,1"})
		ns.AddAddr(b, tap, hostPrefix(vhostNet, 1))
		ns.LinkUp(b, tap)
		srv := startBlog(b, nil, "0", bin, site, append([]string{"-net", "vhost-user:" + pmd.Socket}, staticFlags(vhostNet)...)...)
		srv.pids = append(srv.pids, pmd.PID())
		stopBlog := srv.stop
		srv.stop = func() {
			stopBlog()
			pmd.Stop()
		}
		return srv
	}}
}

func setupNginxVeth(b *testing.B, _, site string) matrixTarget {
	client, server := netns.New(b), netns.New(b)
	c, s := netns.Veth(b, client, server)
	client.AddAddr(b, c, hostPrefix(vethNet, 1))
	server.AddAddr(b, s, hostPrefix(vethNet, 2))
	addr := netip.AddrPortFrom(hostPrefix(vethNet, 2).Addr(), 80).String()
	return matrixTarget{client: client, start: func(b *testing.B, pin httpload.Pinning) matrixServer {
		cmd := httpload.StartNginx(b, server, pin.Server, addr, site)
		return matrixServer{pids: []int{cmd.Process.Pid}, base: "http://" + addr, stop: func() { stopCmd(cmd) }}
	}}
}
