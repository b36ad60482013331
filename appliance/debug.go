package appliance

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/observe"
)

// DebugStats is what the debug listener's /debug/stats answers, as JSON: the runtime's view of
// the appliance's goroutines and memory, and its stack's connections. A soak test samples it
// beside the process's resident memory.
type DebugStats struct {
	// Goroutines is the number of live goroutines.
	Goroutines uint64 `json:"goroutines"`
	// HeapObjects is the memory occupied by heap objects, live or not yet swept.
	HeapObjects uint64 `json:"heap_objects_bytes"`
	// HeapFree is heap memory that is free and still held; HeapReleased has been handed back
	// to the operating system.
	HeapFree     uint64 `json:"heap_free_bytes"`
	HeapReleased uint64 `json:"heap_released_bytes"`
	// Stacks is the memory of the goroutines' stacks.
	Stacks uint64 `json:"stacks_bytes"`
	// RuntimeTotal is all memory the Go runtime has mapped (what it counts against the
	// memory limit, plus what it has released).
	RuntimeTotal uint64 `json:"runtime_total_bytes"`
	// MemoryLimit is the Go runtime's soft memory limit (debug.SetMemoryLimit, GOMEMLIMIT).
	MemoryLimit uint64 `json:"memory_limit_bytes"`
	// GCCycles counts completed garbage collections.
	GCCycles uint64 `json:"gc_cycles"`
	// TCPEstablished counts the stack's established TCP connections but the debug listener's
	// (0 with -net kernel).
	TCPEstablished uint64 `json:"tcp_established"`
}

// debugMetrics are the runtime/metrics samples behind DebugStats, in the order readStats reads
// them.
var debugMetrics = [...]string{
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/total:bytes",
	"/gc/gomemlimit:bytes",
	"/gc/cycles/total:gc-cycles",
	"/memory/classes/heap/stacks:bytes",
}

// readStats samples the runtime and the network's stack.
func readStats(n *Network) DebugStats {
	samples := make([]metrics.Sample, len(debugMetrics))
	for i, name := range debugMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0 // a metric this Go version does not have
		}
		return samples[i].Value.Uint64()
	}
	st := DebugStats{Goroutines: v(0), HeapObjects: v(1), HeapFree: v(2), HeapReleased: v(3),
		RuntimeTotal: v(4), MemoryLimit: v(5), GCCycles: v(6), Stacks: v(7)}
	if s := n.Stack(); s != nil {
		for _, c := range observe.Connections(s) {
			// The debug listener's own connections (this request's among them) are not the
			// application's.
			if c.State == "ESTABLISHED" && (n.debug == nil || c.Local.Port() != n.debug.Port) {
				st.TCPEstablished++
			}
		}
	}
	return st
}

// DefaultDebugPort is the stack port of the debug listener when -debug-listen names none.
const DefaultDebugPort = 6060

// debugFlags are -debug-listen, -debug-token and -debug-flightrecorder.
type debugFlags struct {
	listen, token  string
	flightRecorder bool
}

// register defines the flags on fs.
func (d *debugFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.listen, "debug-listen", "",
		"serve profiles, traces, metrics and the stack's connections on a debug port of the appliance's stack: "+
			"HOST:PORT[=STACKPORT], forwarded from the host like -listen with -net user, listened on with -net kernel; "+
			"with the other kinds the stack port (STACKPORT, else PORT, else 6060) on the stack's address (default: off)")
	fs.StringVar(&d.token, "debug-token", "",
		"with -debug-listen, require \"Authorization: Bearer TOKEN\" on every debug request (default: none)")
	fs.BoolVar(&d.flightRecorder, "debug-flightrecorder", false,
		"with -debug-listen, keep runtime/trace's flight recorder running for /debug/flightrecorder (the last 10s); "+
			"while it runs every trace annotation is recorded, which costs throughput")
}

// addr parses -debug-listen: nil when it is off.
func (d *debugFlags) addr() (*ListenAddr, error) {
	if d.listen == "" {
		if d.token != "" || d.flightRecorder {
			return nil, fmt.Errorf("%w: -debug-token and -debug-flightrecorder need -debug-listen", ErrBadFlag)
		}
		return nil, nil
	}
	if strings.Contains(d.listen, ",") {
		return nil, fmt.Errorf("%w: -debug-listen %q: one address", ErrBadFlag, d.listen)
	}
	as, err := parseListen(d.listen)
	if err != nil {
		return nil, fmt.Errorf("%w (-debug-listen)", err)
	}
	a := as[0]
	if a.Port == 0 {
		_, port, _ := net.SplitHostPort(a.Host)
		p, _ := strconv.ParseUint(port, 10, 16)
		a.Port = cmp.Or(uint16(p), DefaultDebugPort)
	}
	return &a, nil
}

// debugListener is the debug listener: the observer on a port of its own.
type debugListener struct {
	srv *http.Server
	obs *observe.Observer
}

// serveDebug serves the observer of n and the ports on the debug port n was opened with, until
// closed. /debug/stats and POST /debug/gc are added to the observer's paths.
func serveDebug(n *Network, ports []Port, flags *debugFlags, log *slog.Logger) (*debugListener, error) {
	cfg := &observe.Config{Stack: n.Stack(), Token: flags.token, FlightRecorder: flags.flightRecorder,
		Frames: n.frames, Logger: log}
	if nic := n.NIC(); nic != nil {
		cfg.NICs = []*netstack.NIC{nic}
	}
	for _, p := range ports {
		if s, ok := p.Server.(observe.HTTPStats); ok {
			if cfg.HTTP == nil {
				cfg.HTTP = map[string]observe.HTTPStats{}
			}
			cfg.HTTP[strconv.Itoa(int(p.Number))] = s
		}
	}
	obs, err := observe.New(cfg)
	if err != nil {
		return nil, err
	}
	obs.Handle("GET /debug/stats", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(readStats(n))
	}))
	obs.Handle("POST /debug/gc", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(readStats(n))
	}))
	ln, err := n.Listen(n.debug.Port)
	if err != nil {
		obs.Close()
		return nil, fmt.Errorf("appliance: -debug-listen: %w", err)
	}
	srv := &http.Server{Handler: obs, ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	return &debugListener{srv: srv, obs: obs}, nil
}

// Close stops the listener and the observer.
func (d *debugListener) Close() error {
	err := d.srv.Close()
	d.obs.Close()
	return err
}
