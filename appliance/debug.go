package appliance

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
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
	// TCPEstablished counts the stack's established TCP connections (0 with -net kernel).
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
		st.TCPEstablished = s.Stats().TCP.Established
	}
	return st
}

// debugProfiles are the runtime/pprof profiles the debug listener serves under /debug/pprof/.
var debugProfiles = []string{"goroutine", "heap", "allocs", "threadcreate", "block", "mutex"}

// debugHandler serves the debug listener:
//
//	/debug/stats                  DebugStats as JSON
//	/debug/pprof/NAME[?debug=N]   the runtime/pprof profile NAME (goroutine, heap, allocs, ...),
//	                              in the format `go tool pprof` reads, or as text with debug=1;
//	                              heap?gc=1 collects garbage first
//	/debug/pprof/profile?seconds=N  a CPU profile of N seconds (default 30)
//	POST /debug/gc                collects garbage and returns free memory to the operating
//	                              system (debug.FreeOSMemory), then answers /debug/stats: a
//	                              baseline for measuring what a load adds
//
// It is built on runtime/pprof rather than net/http/pprof, whose import registers its handlers
// on http.DefaultServeMux, where an application serving that mux would expose them.
func debugHandler(n *Network) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(readStats(n))
	})
	mux.HandleFunc("POST /debug/gc", func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(readStats(n))
	})
	for _, name := range debugProfiles {
		mux.HandleFunc("GET /debug/pprof/"+name, func(w http.ResponseWriter, r *http.Request) {
			level, _ := strconv.Atoi(r.FormValue("debug"))
			if name == "heap" && r.FormValue("gc") != "" {
				runtime.GC() // as net/http/pprof's gc=1: a profile of what is live now
			}
			if level > 0 {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			} else {
				w.Header().Set("Content-Type", "application/octet-stream")
			}
			pprof.Lookup(name).WriteTo(w, level)
		})
	}
	mux.HandleFunc("GET /debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		secs, err := strconv.Atoi(r.FormValue("seconds"))
		if err != nil || secs <= 0 {
			secs = 30
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, "a CPU profile is already running", http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	})
	mux.HandleFunc("GET /debug/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "/debug/stats\nPOST /debug/gc\n/debug/pprof/%s\n/debug/pprof/profile?seconds=N\n",
			strings.Join(debugProfiles, "\n/debug/pprof/"))
	})
	return mux
}

// serveDebug listens on addr with the host's own sockets and serves the debug handler there
// until the returned server is closed.
func serveDebug(addr string, n *Network, log *slog.Logger) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("appliance: -debug: %w", err)
	}
	srv := &http.Server{Handler: debugHandler(n), ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	return srv, ln.Addr(), nil
}
