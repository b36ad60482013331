package observe

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// DefaultProfileSeconds is how long /debug/pprof/profile samples without ?seconds=, as
// net/http/pprof.
const DefaultProfileSeconds = 30

// handleProfiles serves the paths of net/http/pprof, with the same formats and parameters:
//
//	/debug/pprof/                     an index of the profiles
//	/debug/pprof/NAME[?debug=N]       a runtime/pprof profile (goroutine, heap, allocs, block,
//	                                  mutex, threadcreate) as `go tool pprof` reads it, or as
//	                                  text with debug=1 or 2; heap?gc=1 collects first;
//	                                  ?seconds=N answers the difference over N seconds
//	/debug/pprof/profile?seconds=N    a CPU profile of N seconds (default 30)
//	/debug/pprof/cmdline              the command line, NUL-separated
//
// (/debug/pprof/trace is in trace.go.) The block and mutex profiles stay empty until the
// application sets runtime.SetBlockProfileRate and runtime.SetMutexProfileFraction, as with
// net/http/pprof.
func (o *Observer) handleProfiles() {
	o.mux.HandleFunc("GET /debug/pprof/{$}", profileIndex)
	o.mux.HandleFunc("GET /debug/pprof/cmdline", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, strings.Join(os.Args, "\x00"))
	})
	o.mux.HandleFunc("GET /debug/pprof/profile", cpuProfile)
	o.mux.HandleFunc("GET /debug/pprof/{name}", namedProfile)
}

// profileIndex lists the profiles the runtime has.
func profileIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, p := range pprof.Profiles() {
		fmt.Fprintf(w, "/debug/pprof/%s (%d)\n", p.Name(), p.Count())
	}
	fmt.Fprintln(w, "/debug/pprof/profile?seconds=N\n/debug/pprof/trace?seconds=N\n/debug/pprof/cmdline")
}

// seconds returns the request's ?seconds= (def when absent), and false with a 400 answered
// when it is not a positive number.
func seconds(w http.ResponseWriter, r *http.Request, def int) (time.Duration, bool) {
	v := r.FormValue("seconds")
	if v == "" {
		return time.Duration(def) * time.Second, true
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n <= 0 || n > 3600 {
		http.Error(w, "seconds must be a number of seconds, at most 3600", http.StatusBadRequest)
		return 0, false
	}
	return time.Duration(n * float64(time.Second)), true
}

// sleep waits d, or until the client goes away; it reports whether the whole time passed.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// cpuProfile answers a CPU profile of ?seconds=N.
func cpuProfile(w http.ResponseWriter, r *http.Request) {
	d, ok := seconds(w, r, DefaultProfileSeconds)
	if !ok {
		return
	}
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		http.Error(w, "a CPU profile is already being taken", http.StatusConflict)
		return
	}
	sleep(r, d)
	pprof.StopCPUProfile()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
	w.Write(buf.Bytes())
}

// namedProfile answers the runtime/pprof profile of the path.
func namedProfile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := pprof.Lookup(name)
	if p == nil {
		http.Error(w, "no such profile", http.StatusNotFound)
		return
	}
	level, _ := strconv.Atoi(r.FormValue("debug"))
	if name == "heap" && r.FormValue("gc") != "" {
		runtime.GC()
	}
	if r.FormValue("seconds") != "" {
		deltaProfile(w, r, p)
		return
	}
	if level > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	}
	p.WriteTo(w, level)
}

// deltaProfile answers what profile p gained over ?seconds=N: the profile at the end less the
// one at the start, as net/http/pprof does.
func deltaProfile(w http.ResponseWriter, r *http.Request, p *pprof.Profile) {
	d, ok := seconds(w, r, 0)
	if !ok {
		return
	}
	if r.FormValue("debug") != "" && r.FormValue("debug") != "0" {
		http.Error(w, "seconds takes no debug", http.StatusBadRequest)
		return
	}
	p0, err := collect(p)
	if err != nil {
		http.Error(w, "profile failed", http.StatusInternalServerError)
		return
	}
	if !sleep(r, d) {
		return
	}
	p1, err := collect(p)
	if err != nil {
		http.Error(w, "profile failed", http.StatusInternalServerError)
		return
	}
	ts := p1.TimeNanos
	dur := p1.TimeNanos - p0.TimeNanos
	p0.Scale(-1)
	diff, err := profile.Merge([]*profile.Profile{p0, p1})
	if err != nil {
		http.Error(w, "profile failed", http.StatusInternalServerError)
		return
	}
	diff.TimeNanos, diff.DurationNanos = ts, dur
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", p.Name()+"-delta"))
	diff.Write(w)
}

// collect reads profile p as a parsed profile.
func collect(p *pprof.Profile) (*profile.Profile, error) {
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 0); err != nil {
		return nil, err
	}
	return profile.ParseData(buf.Bytes())
}
