package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/soak"
)

// IdleConnsEnv sets how many idle connections BenchmarkIdleConnections opens (default
// defaultIdleConns).
const IdleConnsEnv = "UNIKIT_IDLE_CONNS"

const defaultIdleConns = 5000

// idleSettle is how long the idle connections are held before the servers are sampled: long
// enough for the servers to finish their share of the last requests (the relays' goroutines
// park, buffers return to their pools) and for the appliance's reclaimer, which looks at its
// heap every 2 s, to collect the requests' garbage and return it, and far below either
// server's idle timeout (httpserve's 60 s, nginx's 75 s).
const idleSettle = 10 * time.Second

// idleFile is the file each idle connection gets once, from the static matrix.
const idleFile = "4KiB"

// BenchmarkIdleConnections measures what an idle HTTP/1.1 keep-alive connection costs a
// server: it opens UNIKIT_IDLE_CONNS (default 5,000) connections, each of which gets the
// 4 KiB file once and then sits idle, holds them for 10 s and reports, per connection, what
// the server's resident memory and the kernel's TCP socket memory grew by. Two servers serve
// the same file to the same client (httpload.OpenIdle), in turn, so that -count repeats them
// round by round:
//
//	user   the blog appliance through -net user: the client reaches its stack through the
//	       user-mode network's port forward on 127.0.0.1, which holds a kernel socket and a
//	       stack connection, and a relay between them, per forwarded connection.
//	nginx  nginx on kernel sockets on 127.0.0.1 (its one process serves; see httpload's
//	       configuration), worker_connections raised to twice their number and some (with
//	       just enough, it closed about a tenth of them).
//
// Metrics, prefixed with the server's name, each per idle connection:
//
//	rss-B/conn         the server process's resident memory (VmRSS) after the hold, less before
//	sockmem-B/conn     the kernel memory charged to the connections' sockets, both ends (the
//	                   client's are alike for both servers, so the figures compare): what
//	                   their queues hold and have reserved (ss -tm, skmem r + w + f), summed
//	                   over the sockets on the served port, after the hold
//	total-B/conn       the two together: what the comparison's target is about
//	machine-sockmem-B/conn
//	                   /proc/net/sockstat's TCP mem (pages × 4096) after, less before: the same
//	                   charge for every TCP socket of the machine (the least of five reads each
//	                   time), so that other work on a shared machine moves it, often by more
//	                   than idle sockets hold
//	sockets/conn       the sockets on the served port (ss), 2: both ends
//
// Neither memory count covers the sockets' own structures (slab memory), the same number of
// sockets for both servers.
//
// and for the blog the Go runtime's split, from its debug listener, after a forced collection
// that returns free memory (POST /debug/gc):
//
//	gc-rss-B/conn      resident memory then
//	heap-B/conn        live heap objects
//	stacks-B/conn      goroutine stacks
//	goroutines/conn    goroutines
//
// It needs nginx, ss (iproute2) and enough open files (raised when root):
//
//	go test ./examples/blog -run '^$' -bench IdleConnections -benchtime 1x -count 3
func BenchmarkIdleConnections(b *testing.B) {
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
	servers := []struct {
		name    string
		measure func(b *testing.B) idleCost
	}{
		{"user", func(b *testing.B) idleCost { return idleBlog(b, bin, site, path, n) }},
		{"nginx", func(b *testing.B) idleCost { return idleNginx(b, site, path, n) }},
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
	rss, sockMem, machineSockMem, sockets int64
	// runtime is the Go runtime's split after a forced collection; nil for nginx.
	runtime *runtimeCost
}

// runtimeCost is the Go runtime's share of a Go server's idle cost.
type runtimeCost struct {
	rss, heap, stacks, goroutines int64
}

func (c idleCost) report(b *testing.B, name string, n int) {
	per := func(v int64) float64 { return float64(v) / float64(n) }
	b.ReportMetric(per(c.rss), name+"-rss-B/conn")
	b.ReportMetric(per(c.sockMem), name+"-sockmem-B/conn")
	b.ReportMetric(per(c.rss+c.sockMem), name+"-total-B/conn")
	b.ReportMetric(per(c.machineSockMem), name+"-machine-sockmem-B/conn")
	b.ReportMetric(per(c.sockets), name+"-sockets/conn")
	msg := fmt.Sprintf("%s: %d idle connections: %.0f B each in resident memory, %.0f B in their sockets' kernel memory (both ends; the machine's TCP memory moved by %.0f B), %.2f sockets",
		name, n, per(c.rss), per(c.sockMem), per(c.machineSockMem), per(c.sockets))
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
}

// sockstatReads is how many times sampleIdle reads /proc/net/sockstat, sockstatEvery apart.
const (
	sockstatReads = 5
	sockstatEvery = 100 * time.Millisecond
)

// sampleIdle samples the server's resident memory and the kernel's TCP socket memory. The
// latter is the whole machine's, and other work's traffic comes and goes in it: the least of
// a few reads is what the held connections' sockets leave in it.
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
	return s
}

// holdIdle opens n idle connections to addr, holds them for idleSettle and returns the cost
// from before to after; during, if not nil, samples the server while they are held.
func holdIdle(b *testing.B, pid int, addr, path string, n int, during func()) idleCost {
	b.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(b, err)
	p, err := strconv.Atoi(port)
	require.NoError(b, err)
	before := sampleIdle(b, pid)
	var d net.Dialer
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	ic, err := httpload.OpenIdle(context.Background(), dial, addr, path, n)
	require.NoError(b, err)
	defer ic.Close()
	time.Sleep(idleSettle)
	after := sampleIdle(b, pid)
	own := httpload.PortSocketMemory(b, p)
	if during != nil {
		during()
	}
	return idleCost{rss: after.rss - before.rss, sockMem: own.Bytes,
		machineSockMem: after.sock.MemBytes - before.sock.MemBytes, sockets: int64(own.Sockets)}
}

// idleBlog measures a fresh blog appliance through -net user.
func idleBlog(b *testing.B, bin, site, path string, n int) idleCost {
	b.Helper()
	a := soak.Start(b, bin, &soak.Net{Name: "user", Flags: []string{"-net", "user", "-listen", "127.0.0.1:0"}}, "-site", site)
	// Killed, not stopped: its graceful shutdown would say goodbye to every connection first.
	defer a.Signal(syscall.SIGKILL)
	_, _, err := a.Get(context.Background(), path) // the first request's one-time work is not the connections'
	require.NoError(b, err)
	a.Client().CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	base := collect(b, a)
	baseRSS := httpload.RSS(b, a.PID)
	var rt runtimeCost
	c := holdIdle(b, a.PID, a.Host, path, n, func() {
		held := collect(b, a)
		rt = runtimeCost{rss: httpload.RSS(b, a.PID) - baseRSS, heap: int64(held.HeapObjects) - int64(base.HeapObjects),
			stacks: int64(held.Stacks) - int64(base.Stacks), goroutines: int64(held.Goroutines) - int64(base.Goroutines)}
	})
	c.runtime = &rt
	return c
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
	return holdIdle(b, cmd.Process.Pid, addr, path, n, nil)
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
