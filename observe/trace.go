package observe

import (
	"bytes"
	"net/http"
	"runtime/trace"
)

// DefaultTraceSeconds is how long /debug/pprof/trace records without ?seconds=, as
// net/http/pprof.
const DefaultTraceSeconds = 1

// handleTraces serves the execution traces:
//
//	/debug/pprof/trace?seconds=N   an execution trace of the next N seconds (default 1)
//	/debug/flightrecorder          the flight recorder's snapshot of the last seconds
//
// Both are read with `go tool trace FILE`; the library's tasks and regions are named
// "unikit." and what they are (see the package documentation).
func (o *Observer) handleTraces() {
	o.mux.HandleFunc("GET /debug/pprof/trace", func(w http.ResponseWriter, r *http.Request) {
		d, ok := seconds(w, r, DefaultTraceSeconds)
		if !ok {
			return
		}
		var buf bytes.Buffer
		if err := trace.Start(&buf); err != nil {
			http.Error(w, "a trace is already being taken", http.StatusConflict)
			return
		}
		sleep(r, d)
		trace.Stop()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="trace"`)
		w.Write(buf.Bytes())
	})
	o.mux.HandleFunc("GET /debug/flightrecorder", func(w http.ResponseWriter, _ *http.Request) {
		if o.frErr != nil || !o.fr.Enabled() {
			http.Error(w, "the flight recorder is not running: it was not asked for (-debug-flightrecorder), or another one in this program runs", http.StatusServiceUnavailable)
			return
		}
		var buf bytes.Buffer
		if _, err := o.fr.WriteTo(&buf); err != nil {
			http.Error(w, "the flight recorder is busy", http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="flightrecorder.trace"`)
		w.Write(buf.Bytes())
	})
}
