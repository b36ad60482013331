package observe

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/trace"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/netstack"
)

// Flight recorder window: how much recent execution /debug/flightrecorder keeps (both are
// hints to the runtime; these are its own defaults, written out).
const (
	FlightRecorderAge   = 10 * time.Second
	FlightRecorderBytes = 10 << 20
)

// HTTPStats is what a served port reports for the metrics: *httpserve.Server satisfies it.
type HTTPStats interface {
	Stats() httpserve.Stats
}

// Config says what an [Observer] looks at. Every field is optional.
type Config struct {
	// Stack is the appliance's stack: its NICs, protocols and connections. Nil (with the
	// host's own sockets) leaves the stack's metrics and connections out.
	Stack *netstack.Stack
	// NICs are the stack's NICs whose DHCP lease state the metrics report.
	NICs []*netstack.NIC
	// HTTP are the httpserve servers, by the port they serve ("80").
	HTTP map[string]HTTPStats
	// Frames is a ring of recent frames for the time-sequence graph; nil leaves
	// /debug/netstack/graph answering from no frames.
	Frames *Frames
	// FlightRecorder starts runtime/trace's flight recorder with the observer, for
	// /debug/flightrecorder. While it runs, trace.IsEnabled is true, so every trace annotation
	// of the library (a task per HTTP request, regions per frame batch) is recorded and costs
	// its allocations and events: this is why it is not on by default.
	FlightRecorder bool
	// Token, if not empty, must come with every request as "Authorization: Bearer TOKEN".
	Token string
	// Logger receives the observer's errors; default slog.Default().
	Logger *slog.Logger
}

// Observer serves the debug paths. Make one with [New]; Close it when its listener closes.
type Observer struct {
	mux    *http.ServeMux
	token  string
	log    *slog.Logger
	reg    *prometheus.Registry
	fr     *trace.FlightRecorder
	frErr  error // why the flight recorder is not running, or nil
	stack  *netstack.Stack
	frames *Frames
	extra  []string // patterns added with Handle
}

// errFlightRecorderOff is why /debug/flightrecorder answers 503 without Config.FlightRecorder.
var errFlightRecorderOff = errors.New("observe: the flight recorder was not asked for")

// New returns an observer of what cfg names (nil: the Go runtime only) and, with
// Config.FlightRecorder, starts the flight recorder, which only one observer of a program can
// hold: another one's /debug/flightrecorder answers 503.
func New(cfg *Config) (*Observer, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	o := &Observer{mux: http.NewServeMux(), token: c.Token, log: c.Logger, stack: c.Stack, frames: c.Frames}
	reg, err := newRegistry(&c)
	if err != nil {
		return nil, err
	}
	o.reg = reg
	o.fr = trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: FlightRecorderAge, MaxBytes: FlightRecorderBytes})
	o.frErr = errFlightRecorderOff
	if c.FlightRecorder {
		if o.frErr = o.fr.Start(); o.frErr != nil {
			o.log.Warn("observe: no flight recorder", "err", o.frErr)
		}
	}
	o.routes()
	return o, nil
}

// routes registers every path on the observer's mux.
func (o *Observer) routes() {
	o.handleProfiles()
	o.handleTraces()
	o.handleMetrics()
	o.handleConnections()
	o.mux.HandleFunc("GET /debug/{$}", o.index)
}

// paths lists what the observer serves, for its index page.
var paths = []string{
	"/debug/pprof/",
	"/debug/pprof/profile?seconds=N",
	"/debug/pprof/trace?seconds=N",
	"/debug/flightrecorder",
	"/metrics",
	"/debug/netstack/connections",
	"/debug/netstack/connections?format=json",
	"/debug/netstack/graph?conn=FROM-TO",
	"/debug/netstack/frames.pcap",
}

// index lists the paths.
func (o *Observer) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, strings.Join(append(paths, o.extra...), "\n"))
}

// Handle registers one more debug handler on the observer (behind its token), for paths of an
// application's own, such as "GET /debug/stats". It panics on a pattern already registered.
func (o *Observer) Handle(pattern string, h http.Handler) {
	o.mux.Handle(pattern, h)
	o.extra = append(o.extra, pattern)
}

// ServeHTTP implements http.Handler: it checks the token, then serves the path.
func (o *Observer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o.token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(o.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="unikit debug"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	o.mux.ServeHTTP(w, r)
}

// Close stops the flight recorder. It is idempotent.
func (o *Observer) Close() error {
	if o.fr.Enabled() {
		o.fr.Stop()
	}
	return nil
}
