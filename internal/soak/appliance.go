//go:build linux

package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/netns"
)

// Net is a network the appliance is soaked on: its -net flags and where it and its clients
// run.
type Net struct {
	// Name names the network in the report: "user", "tap".
	Name string
	// Flags are the appliance's network flags.
	Flags []string
	// NS is the namespace the appliance and its clients run in; nil means this one.
	NS *netns.NS
	// BeforeStart, if set, runs before each appliance starts (a TAP network forgets the
	// previous appliance's MAC address).
	BeforeStart func(t testing.TB)
}

// Appliance is an appliance process under soak: the blog, serving a site, with its debug
// listener on.
type Appliance struct {
	// PID is the process's ID, which /proc reads its memory from.
	PID int
	// Base is where its served port is reached: "http://127.0.0.1:8080".
	Base string
	// Host is Base's host and port.
	Host string
	// Debug is its debug listener's base: "http://127.0.0.1:6061/debug/".
	Debug string

	net    *Net
	cmd    *exec.Cmd
	logs   *netns.SyncBuffer
	client *http.Client
}

// startTimeout bounds how long an appliance may take to print its addresses.
const startTimeout = 30 * time.Second

// Start starts bin with args, its network's flags and -debug-listen on a free loopback port, and
// returns once it has printed where it serves. It is stopped (SIGKILL) when t ends, if Stop
// has not stopped it.
func Start(t testing.TB, bin string, n *Net, args ...string) *Appliance {
	t.Helper()
	if n.BeforeStart != nil {
		n.BeforeStart(t)
	}
	args = append(append(args, n.Flags...), "-debug-listen", "127.0.0.1:0")
	var cmd *exec.Cmd
	if n.NS != nil {
		cmd = n.NS.Command(context.Background(), bin, args...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	a := &Appliance{net: n, cmd: cmd, logs: new(netns.SyncBuffer)}
	cmd.Stderr = a.logs
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	a.PID = cmd.Process.Pid
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s appliance's log:\n%s", n.Name, lastLines(a.logs.String(), 40))
		}
	})
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	deadline := time.After(startTimeout)
	for a.Base == "" || a.Debug == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("%s appliance exited before it served: %s", n.Name, lastLines(a.logs.String(), 20))
			}
			for f := range strings.FieldsSeq(line) {
				switch {
				case strings.HasPrefix(line, "serving") && strings.HasPrefix(f, "http://"):
					a.Base, a.Host = f, strings.TrimPrefix(f, "http://")
				case strings.HasPrefix(line, "debug on") && strings.HasPrefix(f, "http://"):
					a.Debug = f
				}
			}
		case <-deadline:
			t.Fatalf("%s appliance printed no addresses within %v: %s", n.Name, startTimeout, lastLines(a.logs.String(), 20))
		}
	}
	a.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return a.DialAddr(ctx, addr) },
		MaxIdleConnsPerHost: 64, DisableCompression: true,
	}}
	return a
}

// Dial connects to the appliance's served port from where its clients run.
func (a *Appliance) Dial(ctx context.Context) (net.Conn, error) { return a.DialAddr(ctx, a.Host) }

// DialAddr connects to addr from where the appliance's clients run: in its network's
// namespace, if it has one.
func (a *Appliance) DialAddr(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	if a.net.NS == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	var c net.Conn
	err := a.net.NS.Do(func() error {
		var err error
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// Client returns an HTTP client whose connections are made where the appliance's clients run.
func (a *Appliance) Client() *http.Client { return a.client }

// Stats reads the debug listener's /debug/stats.
func (a *Appliance) Stats() (appliance.DebugStats, error) {
	var st appliance.DebugStats
	resp, err := a.client.Get(a.Debug + "stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("debug stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// warmConns are the connections Baseline warms the appliance with.
const warmConns = 8

// Baseline warms the appliance (every file of the site fetched over warmConns connections at
// once, twice, so that the buffers steady traffic keeps, such as -net user's link queues, are
// there), closes those connections, has it collect garbage and return free memory
// (POST /debug/gc), and samples it: what a scenario's clients add is measured from there.
func (a *Appliance) Baseline(t testing.TB) Sample {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, warmConns)
	for range warmConns {
		wg.Go(func() {
			for range 2 {
				for _, f := range Files {
					if _, _, err := a.Get(context.Background(), f.Path()); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "warming the %s appliance", a.net.Name)
	}
	a.client.CloseIdleConnections()
	// The appliance ends the closed connections on its side in a moment; the collection
	// must come after.
	require.Eventually(t, func() bool {
		st, err := a.Stats()
		return err == nil && st.TCPEstablished == 0
	}, 10*time.Second, 20*time.Millisecond, "the %s appliance kept the warming connections", a.net.Name)
	resp, err := a.client.Post(a.Debug+"gc", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return a.Now(t)
}

// RSS returns the appliance's resident memory in bytes.
func (a *Appliance) RSS(t testing.TB) int64 {
	t.Helper()
	n, err := readRSS(a.PID)
	require.NoError(t, err)
	return n
}

// cpuTime returns the user and system CPU time process pid has used (/proc/PID/stat).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return 0, err
	}
	const clockTicks = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// readRSS returns the resident memory of process pid in bytes (VmRSS in /proc/PID/status).
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS %q: %w", pid, v, err)
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// Logs returns what the appliance has logged so far.
func (a *Appliance) Logs() string { return a.logs.String() }

// Signal sends sig to the appliance.
func (a *Appliance) Signal(sig syscall.Signal) error { return syscall.Kill(a.PID, sig) }

// Stop interrupts the appliance and checks that it exits with status 0 within its shutdown
// timeout and a margin.
func (a *Appliance) Stop(t testing.TB) {
	t.Helper()
	a.client.CloseIdleConnections()
	require.NoError(t, a.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "the %s appliance's exit after SIGINT; its log:\n%s", a.net.Name, lastLines(a.logs.String(), 20))
	case <-time.After(15 * time.Second):
		t.Fatalf("the %s appliance did not exit within 15 s of SIGINT", a.net.Name)
	}
}

// Get fetches path and returns its body and entity tag; any status but 200 is an error.
func (a *Appliance) Get(ctx context.Context, path string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+path, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, resp.Header.Get("Etag"), nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fdLimit raises the process's open-file limit to its hard limit, for tests that hold
// thousands of connections; it returns the limit in force.
func fdLimit() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}
