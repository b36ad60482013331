package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/soak"
)

// IdleConnsEnv sets how many idle connections BenchmarkIdleConnections opens (default
// defaultIdleConns).
const IdleConnsEnv = "UNIKIT_IDLE_CONNS"

const defaultIdleConns = 5000

// IdleProfileEnv names a directory where BenchmarkIdleConnections saves the blog's heap
// profile (NET-heap.pb.gz, from its debug listener) while the connections are held, after a
// collection: where an idle connection's memory is.
const IdleProfileEnv = "UNIKIT_IDLE_PROFILE"

// idleSettle is how long the idle connections are held before the servers are sampled: long
// enough for the servers to finish their share of the last requests (the relays' goroutines
// park, buffers return to their pools, httpserve parks its waiting connections after one to
// two seconds) and for the appliance's reclaimer, which looks at its heap every 2 s, to
// return what that freed, and far below either server's idle timeout (httpserve's 60 s,
// nginx's 75 s).
const idleSettle = 10 * time.Second

// idleFile is the file each idle connection gets once, from the static matrix.
const idleFile = "4KiB"

// BenchmarkIdleConnections measures what an idle HTTP/1.1 keep-alive connection costs a
// server: it opens UNIKIT_IDLE_CONNS (default 5,000) connections, each of which gets the
// 4 KiB file once and then sits idle, holds them for 10 s and reports, per connection, what
// the server's resident memory and the kernel's memory for the connections grew by. Four
// servers serve the same file to the same client (httpload.OpenIdle), in turn, so that -count
// repeats them round by round; two pairs compare like with like:
//
//	user        the blog appliance through -net user: the client reaches its stack through
//	            the user-mode network's port forward on 127.0.0.1, whose gateway holds a
//	            kernel socket (accepted from its listener), a stack connection and a relay
//	            between them, per forwarded connection, besides the blog's own stack
//	            connection.
//	nginx       nginx on kernel sockets on 127.0.0.1, the client on the same loopback: the
//	            match of user.
//	tap         the blog over a TAP device, the appliance's shape in a VM: one stack
//	            connection per connection and no kernel socket on the server's side; the
//	            client in the TAP's namespace.
//	nginx-veth  nginx in a namespace of its own, reached across a veth pair from the client's
//	            namespace: the match of tap.
//
// nginx's one process serves (see httpload's configuration), worker_connections raised to
// twice the connections and some (with just enough, it closed about a tenth of them).
//
// Metrics, prefixed with the server's name, each per idle connection:
//
//	fair-B/conn        the compared figure: what the connection costs the server's side,
//	                   its process and the kernel's memory for it together: rss-B/conn +
//	                   server-sockmem-B/conn + kslab-B/conn
//	rss-B/conn         the server process's resident memory (VmRSS) after the hold, less before
//	server-sockmem-B/conn
//	                   the kernel memory charged to the server's end of the connections: what
//	                   their queues hold and have reserved (ss -tm, skmem r + w + f); 0 over
//	                   TAP, where the server has no kernel socket
//	kslab-B/conn       the kernel's slab memory for the server's kernel sockets: slab-B/socket
//	                   × the kernel sockets the server's side holds per connection (nginx 1,
//	                   user 1: the gateway's, tap 0)
//	slab-B/socket      the whole machine's slab memory in the caches of a kernel socket
//	                   (httpload.SocketSlabCaches: struct tcp_sock, socket inode, file, dentry,
//	                   epoll item, ...; the median of five reads) after the hold, less
//	                   before, per kernel socket the connections made: the client's one
//	                   per connection and the server side's; the sockets of both ends are
//	                   alike, so the split is by count. Other work on a shared machine moves
//	                   the sum too, by less than 5,000 connections do.
//	sockmem-B/conn     the kernel memory charged to both ends' sockets, as server-sockmem
//	total-B/conn       rss-B/conn + sockmem-B/conn, the figure before the slab was counted
//	machine-sockmem-B/conn
//	                   /proc/net/sockstat's TCP mem (pages × 4096) after, less before: the same
//	                   charge for every TCP socket of the machine (the least of five reads each
//	                   time), so that other work on a shared machine moves it, often by more
//	                   than idle sockets hold
//	sockets/conn       the connections' kernel sockets (ss), both ends: 2, or 1 over TAP
//
// and for the blog the Go runtime's split, from its debug listener, after a forced collection
// that returns free memory (POST /debug/gc):
//
//	gc-rss-B/conn      resident memory then
//	heap-B/conn        live heap objects
//	stacks-B/conn      goroutine stacks
//	goroutines/conn    goroutines
//
// It needs root (the namespaces, TAP, /proc/slabinfo), nginx, ss (iproute2) and enough open
// files (raised):
//
//	go test ./examples/blog -run '^$' -bench IdleConnections -benchtime 1x -count 3
func BenchmarkIdleConnections(b *testing.B) {
	peers.Root(b)
	n := defaultIdleConns
	if v, err := strconv.Atoi(os.Getenv(IdleConnsEnv)); err == nil && v > 0 {
		n = v
	}
	// The client's sockets and, for nginx, the server's, with room for the rest.
	raiseOpenFiles(b, uint64(2*n+1024))
	bin := apptest.Build(b)
	site := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(site, idleFile+".html"), httpload.Page(4<<10), 0o644))
	path := "/" + idleFile + ".html"
	user, tap := soakUser(b), soakTAP(b)
	veth := newIdleVeth(b)
	servers := []struct {
		name    string
		measure func(b *testing.B) idleCost
	}{
		{"user", func(b *testing.B) idleCost { return idleBlog(b, bin, site, path, n, user) }},
		{"nginx", func(b *testing.B) idleCost { return idleNginx(b, site, path, n) }},
		{"tap", func(b *testing.B) idleCost { return idleBlog(b, bin, site, path, n, tap) }},
		{"nginx-veth", func(b *testing.B) idleCost { return veth.measure(b, site, path, n) }},
	}
	for range b.N {
		for _, s := range servers {
			c := s.measure(b)
			c.report(b, s.name, n)
		}
	}
}

// idleCost is what a server's idle connections added, in bytes, between two samples.
type idleCost struct {
	rss, sockMem, serverSockMem, machineSockMem, sockets int64
	// slab is the machine's slab memory's growth; kernelSockets the kernel sockets the
	// connections made, both ends, of which serverSockets on the server's side.
	slab                         int64
	kernelSockets, serverSockets int64
	// runtime is the Go runtime's split after a forced collection; nil for nginx.
	runtime *runtimeCost
}

// runtimeCost is the Go runtime's share of a Go server's idle cost.
type runtimeCost struct {
	rss, heap, stacks, goroutines int64
}

// slabPerSocket is the slab memory's growth per kernel socket the connections made.
func (c idleCost) slabPerSocket() float64 {
	if c.kernelSockets == 0 {
		return 0
	}
	return float64(c.slab) / float64(c.kernelSockets)
}

func (c idleCost) report(b *testing.B, name string, n int) {
	per := func(v int64) float64 { return float64(v) / float64(n) }
	kslab := c.slabPerSocket() * float64(c.serverSockets) / float64(n)
	fair := per(c.rss) + per(c.serverSockMem) + kslab
	b.ReportMetric(fair, name+"-fair-B/conn")
	b.ReportMetric(per(c.rss), name+"-rss-B/conn")
	b.ReportMetric(per(c.serverSockMem), name+"-server-sockmem-B/conn")
	b.ReportMetric(kslab, name+"-kslab-B/conn")
	b.ReportMetric(c.slabPerSocket(), name+"-slab-B/socket")
	b.ReportMetric(per(c.sockMem), name+"-sockmem-B/conn")
	b.ReportMetric(per(c.rss+c.sockMem), name+"-total-B/conn")
	b.ReportMetric(per(c.machineSockMem), name+"-machine-sockmem-B/conn")
	b.ReportMetric(per(c.sockets), name+"-sockets/conn")
	msg := fmt.Sprintf("%s: %d idle connections: %.0f B each on the server's side (%.0f B resident memory, %.0f B its sockets' kernel memory, %.0f B slab for its %.0f kernel sockets at %.0f B each); both ends' socket memory %.0f B (the machine's TCP memory moved by %.0f B), %.2f sockets",
		name, n, fair, per(c.rss), per(c.serverSockMem), kslab, per(c.serverSockets), c.slabPerSocket(), per(c.sockMem), per(c.machineSockMem), per(c.sockets))
	if r := c.runtime; r != nil {
		b.ReportMetric(per(r.rss), name+"-gc-rss-B/conn")
		b.ReportMetric(per(r.heap), name+"-heap-B/conn")
		b.ReportMetric(per(r.stacks), name+"-stacks-B/conn")
		b.ReportMetric(per(r.goroutines), name+"-goroutines/conn")
		msg += fmt.Sprintf("; after a collection %.0f B resident, %.0f B live heap, %.0f B stacks, %.2f goroutines",
			per(r.rss), per(r.heap), per(r.stacks), per(r.goroutines))
	}
	b.Log(msg)
}

// idleSample is one sample of a server and the kernel.
type idleSample struct {
	rss  int64
	sock httpload.TCPSockstat
	slab int64
}

// sockstatReads is how many times sampleIdle reads /proc/net/sockstat, sockstatEvery apart.
const (
	sockstatReads = 5
	sockstatEvery = 100 * time.Millisecond
	slabReads     = 5
)

// sampleIdle samples the server's resident memory and the kernel's TCP socket and slab
// memory. The socket memory is the whole machine's, and other work's traffic comes and goes in
// it: the least of a few reads is what the held connections' sockets leave in it.
func sampleIdle(b *testing.B, pid int) idleSample {
	b.Helper()
	s := idleSample{rss: httpload.RSS(b, pid)}
	for i := range sockstatReads {
		if i > 0 {
			time.Sleep(sockstatEvery)
		}
		st, err := httpload.ReadTCPSockstat()
		require.NoError(b, err)
		if i == 0 || st.MemBytes < s.sock.MemBytes {
			s.sock.MemBytes = st.MemBytes
		}
		s.sock.InUse = st.InUse
	}
	// The socket caches' median of a few reads: other work's files come and go in them.
	var slab [slabReads]int64
	for i := range slab {
		if i > 0 {
			time.Sleep(sockstatEvery)
		}
		var err error
		slab[i], err = httpload.ReadSlabBytes(httpload.SocketSlabCaches...)
		require.NoError(b, err)
	}
	slices.Sort(slab[:])
	s.slab = slab[slabReads/2]
	return s
}

// idleHold is what holdIdle holds idle connections to, and where their kernel sockets are.
type idleHold struct {
	pid        int    // the server's process
	addr, path string // what each connection gets once
	dial       func(ctx context.Context, addr string) (net.Conn, error)
	// clientNS and serverNS are the namespaces of the connections' two ends (nil: this one);
	// serverSockets is how many kernel sockets the server's side holds per connection: 0
	// over TAP, where serverNS is not looked at.
	clientNS, serverNS *netns.NS
	serverSockets      int
}

// holdIdle opens n idle connections as h says, holds them for idleSettle and returns the cost
// from before to after; during, if not nil, samples the server while they are held.
func holdIdle(b *testing.B, h idleHold, n int, during func()) idleCost {
	b.Helper()
	_, port, err := net.SplitHostPort(h.addr)
	require.NoError(b, err)
	p, err := strconv.Atoi(port)
	require.NoError(b, err)
	before := sampleIdle(b, h.pid)
	ic, err := httpload.OpenIdle(context.Background(), h.dial, h.addr, h.path, n)
	require.NoError(b, err)
	defer ic.Close()
	time.Sleep(idleSettle)
	after := sampleIdle(b, h.pid)
	var server httpload.SocketMemory
	if h.serverSockets > 0 {
		server = httpload.SocketMemoryIn(b, h.serverNS, p, httpload.ServerEnd)
		require.GreaterOrEqual(b, server.Sockets, n*h.serverSockets*9/10, "the server's kernel sockets")
	}
	client := httpload.SocketMemoryIn(b, h.clientNS, p, httpload.ClientEnd)
	if during != nil {
		during()
	}
	return idleCost{rss: after.rss - before.rss, sockMem: server.Bytes + client.Bytes, serverSockMem: server.Bytes,
		machineSockMem: after.sock.MemBytes - before.sock.MemBytes, sockets: int64(server.Sockets + client.Sockets),
		slab: after.slab - before.slab, kernelSockets: int64(n * (1 + h.serverSockets)), serverSockets: int64(n * h.serverSockets)}
}

// idleBlog measures a fresh blog appliance on network nw: through -net user (its gateway
// holds a kernel socket per connection) or over TAP (it holds none).
func idleBlog(b *testing.B, bin, site, path string, n int, nw *soak.Net) idleCost {
	b.Helper()
	a := soak.Start(b, bin, nw, "-site", site)
	// Killed, not stopped: its graceful shutdown would say goodbye to every connection first.
	defer a.Signal(syscall.SIGKILL)
	_, _, err := a.Get(context.Background(), path) // the first request's one-time work is not the connections'
	require.NoError(b, err)
	a.Client().CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	base := collect(b, a)
	baseRSS := httpload.RSS(b, a.PID)
	var rt runtimeCost
	h := idleHold{pid: a.PID, addr: a.Host, path: path, dial: a.DialAddr, clientNS: nw.NS}
	if nw.NS == nil {
		h.serverSockets = 1 // the user-mode network's gateway's, in this namespace
	}
	c := holdIdle(b, h, n, func() {
		held := collect(b, a)
		saveHeapProfile(b, a, nw.Name)
		rt = runtimeCost{rss: httpload.RSS(b, a.PID) - baseRSS, heap: int64(held.HeapObjects) - int64(base.HeapObjects),
			stacks: int64(held.Stacks) - int64(base.Stacks), goroutines: int64(held.Goroutines) - int64(base.Goroutines)}
	})
	c.runtime = &rt
	return c
}

// saveHeapProfile saves the appliance's heap profile to UNIKIT_IDLE_PROFILE's directory, if
// set, as NAME-heap.pb.gz.
func saveHeapProfile(b *testing.B, a *soak.Appliance, name string) {
	b.Helper()
	dir := os.Getenv(IdleProfileEnv)
	if dir == "" {
		return
	}
	resp, err := a.Client().Get(a.Debug + "pprof/heap")
	require.NoError(b, err)
	defer resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode)
	f, err := os.Create(filepath.Join(dir, name+"-heap.pb.gz"))
	require.NoError(b, err)
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	require.NoError(b, err)
	b.Logf("%s: heap profile in %s", name, f.Name())
}

// collect has the appliance collect garbage and return free memory, and returns its runtime's
// figures then.
func collect(b *testing.B, a *soak.Appliance) appliance.DebugStats {
	b.Helper()
	resp, err := a.Client().Post(a.Debug+"gc", "", nil)
	require.NoError(b, err)
	defer resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode)
	var st appliance.DebugStats
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

// idleNginx measures a fresh nginx on 127.0.0.1.
func idleNginx(b *testing.B, site, path string, n int) idleCost {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	addr := ln.Addr().String()
	ln.Close()
	cmd := httpload.StartNginxConns(b, nil, "0-1", addr, site, 2*n+64)
	defer stopCmd(cmd)
	resp, err := http.Get("http://" + addr + path)
	require.NoError(b, err)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	var d net.Dialer
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	return holdIdle(b, idleHold{pid: cmd.Process.Pid, addr: addr, path: path, dial: dial, serverSockets: 1}, n, nil)
}

// idleVeth is a client namespace joined to a server namespace by a veth pair, as the static
// matrix reaches nginx for its comparison with TAP.
type idleVeth struct {
	client, server *netns.NS
	addr           string
}

func newIdleVeth(b *testing.B) *idleVeth {
	client, server := netns.New(b), netns.New(b)
	c, s := netns.Veth(b, client, server)
	client.AddAddr(b, c, hostPrefix(vethNet, 1))
	server.AddAddr(b, s, hostPrefix(vethNet, 2))
	return &idleVeth{client: client, server: server, addr: netip.AddrPortFrom(hostPrefix(vethNet, 2).Addr(), 80).String()}
}

// dial connects to addr from the client's namespace.
func (v *idleVeth) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := v.client.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// measure measures a fresh nginx in the server's namespace.
func (v *idleVeth) measure(b *testing.B, site, path string, n int) idleCost {
	b.Helper()
	cmd := httpload.StartNginxConns(b, v.server, "0-1", v.addr, site, 2*n+64)
	defer stopCmd(cmd)
	c, err := httpload.OpenIdle(context.Background(), v.dial, v.addr, path, 1) // nginx's first request
	require.NoError(b, err)
	c.Close()
	time.Sleep(500 * time.Millisecond)
	return holdIdle(b, idleHold{pid: cmd.Process.Pid, addr: v.addr, path: path, dial: v.dial,
		clientNS: v.client, serverNS: v.server, serverSockets: 1}, n, nil)
}

// raiseOpenFiles raises the open-file limit, which the servers inherit, to at least want,
// raising the hard limit too when allowed; it fails b if that is not possible.
func raiseOpenFiles(b *testing.B, want uint64) {
	b.Helper()
	var l syscall.Rlimit
	require.NoError(b, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l))
	if l.Cur >= want {
		return
	}
	l.Cur, l.Max = want, max(l.Max, want)
	require.NoError(b, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l), "the open-file limit must allow %d files (ulimit -n)", want)
}
