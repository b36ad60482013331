package main

import (
	"net/netip"
	"os"
	"path/filepath"
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
// on kernel sockets across a veth pair, as sub-benchmarks LINK/SIZE/cCONNS:
//
//	user        -net user: wrk reaches the stack on 127.0.0.1 through the embedded network's
//	            port forward. The blog runs on CPU 1 and wrk on CPU 0, as in httpserve's
//	            BenchmarkWrkMatrix, whose nginx on loopback is this link's anchor.
//	tap         -net tap: the TAP device lives in a namespace, where wrk runs. The blog on
//	            CPU 1, wrk on CPU 0.
//	vhost-user  -net vhost-user: the virtio driver against testpmd's vhost-user port, which
//	            testpmd forwards to a TAP device (net_tap) in a namespace where wrk runs.
//	            testpmd busy-polls CPU 1, so the blog and wrk share CPU 0.
//	nginx-veth  nginx in one namespace on CPU 1, wrk in another on CPU 0, across a veth pair:
//	            the kernel's answer to tap and vhost-user, their anchor.
//
// Each point starts a fresh server, warms it up for a second and measures it for
// UNIKIT_WRK_SECONDS (default 3; 1 MiB × 500 at least 10 s, httpload.PointDuration):
// requests/s, server CPU time per request (the blog's includes its stack, and with -net user
// the host side of the network too), latency percentiles and peak resident memory, as
// metrics httpserve-* or nginx-*. It needs root, wrk, nginx, taskset and, for vhost-user,
// dpdk-testpmd:
//
//	go test ./examples/blog -run '^$' -bench 'NetMatrix/tap/4KiB/c50' -benchtime 1x
func BenchmarkNetMatrix(b *testing.B) {
	peers.Root(b)
	bin := apptest.Build(b)
	site := b.TempDir()
	for _, sz := range httpload.Sizes {
		require.NoError(b, os.WriteFile(filepath.Join(site, sz.Name+".html"), httpload.Page(sz.Bytes), 0o644))
	}
	dur := httpload.Seconds(3 * time.Second)
	for _, link := range matrixLinks {
		b.Run(link.name, func(b *testing.B) {
			target := link.setup(b, bin, site)
			httpload.ForMatrix(b, func(b *testing.B, size httpload.Size, conns int) {
				pid, base := target.start(b)
				m := httpload.Measure(b, pid, size.Bytes, httpload.Load{URL: base + "/" + size.Name + ".html",
					Conns: conns, Duration: httpload.PointDuration(dur, size, conns), CPUs: target.wrkCPUs, NS: target.client})
				b.Log(httpload.Report(b, link.server, m))
			})
		})
	}
}

// matrixLink is one server configuration of BenchmarkNetMatrix.
type matrixLink struct {
	name   string // sub-benchmark name
	server string // metric prefix
	// setup prepares the network once for every point (namespaces, devices, backends).
	setup func(b *testing.B, bin, site string) matrixTarget
}

// matrixTarget is a prepared network: how to start a fresh server in it and where wrk runs.
type matrixTarget struct {
	start   func(b *testing.B) (pid int, base string) // base: "http://HOST:PORT"
	client  *netns.NS                                 // wrk's namespace; nil: this one
	wrkCPUs string
}

var matrixLinks = []matrixLink{
	{"user", "httpserve", setupUser},
	{"tap", "httpserve", setupTAP},
	{"vhost-user", "httpserve", setupVhostUser},
	{"nginx-veth", "nginx", setupNginxVeth},
}

// startBlog starts the blog binary serving site with the given network flags, pinned to
// cpus, inside ns if not nil, and returns its PID and the base URL it announced. It is
// killed when b ends.
func startBlog(b *testing.B, ns *netns.NS, cpus, bin, site string, netFlags ...string) (int, string) {
	cmd := httpload.Pinned(b, ns, cpus, bin, append([]string{"-site", site}, netFlags...)...)
	base := apptest.Start(b, cmd)
	return cmd.Process.Pid, base
}

func setupUser(b *testing.B, bin, site string) matrixTarget {
	return matrixTarget{wrkCPUs: "0", start: func(b *testing.B) (int, string) {
		return startBlog(b, nil, "1", bin, site, "-net", "user", "-listen", "127.0.0.1:0")
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
	return matrixTarget{client: ns, wrkCPUs: "0", start: func(b *testing.B) (int, string) {
		// Every blog has a new MAC address: forget the previous one's.
		ns.IP(b, "neigh", "flush", "dev", tap)
		return startBlog(b, ns, "1", bin, site, append([]string{"-net", "tap:" + tap}, staticFlags(tapNet)...)...)
	}}
}

func setupVhostUser(b *testing.B, bin, site string) matrixTarget {
	peers.Program(b, "dpdk-testpmd", "dpdk")
	ns := netns.New(b)
	tap := netns.UniqueName("ukmv")
	pmd := dpdk.Start(b, &dpdk.Options{NS: ns, TAP: tap, Lcores: "0,1"})
	ns.AddAddr(b, tap, hostPrefix(vhostNet, 1))
	ns.LinkUp(b, tap)
	return matrixTarget{client: ns, wrkCPUs: "0", start: func(b *testing.B) (int, string) {
		ns.IP(b, "neigh", "flush", "dev", tap)
		return startBlog(b, nil, "0", bin, site, append([]string{"-net", "vhost-user:" + pmd.Socket}, staticFlags(vhostNet)...)...)
	}}
}

func setupNginxVeth(b *testing.B, _, site string) matrixTarget {
	client, server := netns.New(b), netns.New(b)
	c, s := netns.Veth(b, client, server)
	client.AddAddr(b, c, hostPrefix(vethNet, 1))
	server.AddAddr(b, s, hostPrefix(vethNet, 2))
	addr := netip.AddrPortFrom(hostPrefix(vethNet, 2).Addr(), 80).String()
	return matrixTarget{client: client, wrkCPUs: "0", start: func(b *testing.B) (int, string) {
		return httpload.StartNginx(b, server, "1", addr, site).Process.Pid, "http://" + addr
	}}
}
