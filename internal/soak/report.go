//go:build linux

package soak

import (
	"bytes"
	"encoding/json"
	"os"
	"sync"
)

// Report is what a soak run found, written as JSON for `go run ./bench -soak` to turn into
// results. Figures are in bytes, seconds and milliseconds unless named otherwise.
type Report struct {
	Mode Mode `json:"mode"`
	// Criteria are the limits the scenarios checked.
	Criteria Criteria `json:"criteria"`

	mu sync.Mutex
	// Nets holds the scenarios' results on each network, in the order they ran.
	Nets []*NetReport `json:"nets"`
	// BadStarts are the bad start-ups tried.
	BadStarts []BadStart `json:"bad_starts"`
}

// Criteria are the scenarios' limits, as the report states them.
type Criteria struct {
	RSSSlackBytes       int64   `json:"rss_slack_bytes"`
	RSSSlackShare       float64 `json:"rss_slack_share"`
	GoroutineSlack      int     `json:"goroutine_slack"`
	GoroutineSlackShare float64 `json:"goroutine_slack_share"`
	SlowAddedLimit      int64   `json:"slow_added_limit"`
	P99Factor           float64 `json:"p99_factor"`
	P99SlackMs          float64 `json:"p99_slack_ms"`
	ReturnSlack         int64   `json:"return_slack"`
	ReturnPerConn       int64   `json:"return_per_conn"`
	ReturnWait          float64 `json:"return_wait_s"`
	BadStartLimit       float64 `json:"bad_start_limit_s"`
}

// Limits returns the criteria the scenarios apply.
func Limits() Criteria {
	return Criteria{RSSSlackBytes: RSSSlackBytes, RSSSlackShare: RSSSlackShare,
		GoroutineSlack: GoroutineSlack, GoroutineSlackShare: GoroutineSlackShare,
		SlowAddedLimit: SlowAddedLimit, P99Factor: P99Factor, P99SlackMs: ms(P99Slack),
		ReturnSlack: ReturnSlack, ReturnPerConn: ReturnPerConn, ReturnWait: ReturnWait.Seconds(), BadStartLimit: BadStartLimit.Seconds()}
}

// NetReport is the scenarios' results on one network; a scenario that did not run is nil.
type NetReport struct {
	Net    string        `json:"net"`
	Mixed  *MixedResult  `json:"mixed,omitempty"`
	Reload *ReloadResult `json:"reload,omitempty"`
	Slow   *SlowResult   `json:"slow,omitempty"`
	Idle   *IdleResult   `json:"idle,omitempty"`
	Resets *ResetResult  `json:"resets,omitempty"`
}

// Net returns the report of the named network, adding it the first time.
func (r *Report) Net(name string) *NetReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.Nets {
		if n.Net == name {
			return n
		}
	}
	n := &NetReport{Net: name}
	r.Nets = append(r.Nets, n)
	return n
}

// AddBadStart records a bad start-up.
func (r *Report) AddBadStart(b BadStart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.BadStarts = append(r.BadStarts, b)
}

// Write writes the report to path as indented JSON.
func (r *Report) Write(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(r); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// MixedResult is the mixed load's outcome.
type MixedResult struct {
	Seconds   float64        `json:"seconds"`
	Conns     int            `json:"conns"`
	Mix       map[string]int `json:"mix"` // requests per round of 100, by path
	Requests  int64          `json:"requests"`
	ReqPerSec float64        `json:"req_per_s"`
	P50ms     float64        `json:"p50_ms"`
	P99ms     float64        `json:"p99_ms"`
	Failures  string         `json:"failures"` // "" when no request failed
	PeakRSS   int64          `json:"peak_rss"`
	Flatness  Flatness       `json:"flatness"`
	Samples   []Sample       `json:"samples"`

	// The appliance before the load (warmed, see Appliance.Baseline) and once it had settled
	// after it, or when the wait for that ended.
	BaselineRSS      int64   `json:"baseline_rss"`
	BaselineRoutines uint64  `json:"baseline_goroutines"`
	AfterRSS         int64   `json:"after_rss"`
	AfterRoutines    uint64  `json:"after_goroutines"`
	AfterConns       uint64  `json:"after_conns"`
	SettledIn        float64 `json:"settled_in_s"`
}

// ReloadResult is the outcome of reloading under load while the site changes.
type ReloadResult struct {
	Seconds  float64 `json:"seconds"`
	Reloads  int     `json:"reloads"`  // SIGHUPs sent
	Reloaded int     `json:"reloaded"` // reloads the appliance logged as done
	Checked  int     `json:"checked"`  // responses checked against the site's versions
	Versions int     `json:"versions"` // distinct versions of files seen
	WrkReqs  int64   `json:"wrk_requests"`
	Failures string  `json:"failures"` // "" when no request failed and no response mixed versions
}

// SlowResult is the outcome of the slow readers.
type SlowResult struct {
	Readers      int       `json:"readers"`
	HoldSeconds  float64   `json:"hold_seconds"`
	Connected    int       `json:"connected"`     // readers that received the response's first bytes
	FilledIn     float64   `json:"filled_in_s"`   // how long after that the appliance went quiet
	ServedAtEnd  int       `json:"served_at_end"` // the appliance's connections at the end of the hold
	BaselineRSS  int64     `json:"baseline_rss"`
	PeakRSS      int64     `json:"peak_rss"`    // the most, the normal client's runs included
	ReadersRSS   int64     `json:"readers_rss"` // the most outside the normal client's runs
	AddedRSS     int64     `json:"added_rss"`   // ReadersRSS less BaselineRSS
	AfterRSS     int64     `json:"after_rss"`   // once memory had returned, or when the wait ended
	ReturnedIn   float64   `json:"returned_in_s"`
	UnloadedP99  float64   `json:"unloaded_p99_ms"` // the best of UnloadedRuns
	LoadedP99    float64   `json:"loaded_p99_ms"`   // the best of LoadedRuns
	UnloadedRuns []float64 `json:"unloaded_p99_runs_ms"`
	LoadedRuns   []float64 `json:"loaded_p99_runs_ms"`
	NormalErrors string    `json:"normal_errors"`
	Samples      []Sample  `json:"samples"`
}

// IdleResult is the outcome of the idle keep-alive connections.
type IdleResult struct {
	Conns             int     `json:"conns"`
	BaselineRSS       int64   `json:"baseline_rss"`
	HeldRSS           int64   `json:"held_rss"`
	BytesPerConn      float64 `json:"bytes_per_conn"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	ServedWhileIdle   int     `json:"served_while_idle"` // fresh requests answered while they were held
	ServedAgain       int     `json:"served_again"`      // idle connections that answered a second request
	AfterRSS          int64   `json:"after_rss"`
	ReturnedIn        float64 `json:"returned_in_s"`
}

// ResetResult is the outcome of the clients that reset mid-download.
type ResetResult struct {
	Clients          int     `json:"clients"`
	BaselineRSS      int64   `json:"baseline_rss"`
	PeakRSS          int64   `json:"peak_rss"`
	AfterRSS         int64   `json:"after_rss"`
	BaselineRoutines uint64  `json:"baseline_goroutines"`
	AfterRoutines    uint64  `json:"after_goroutines"`
	AfterConns       uint64  `json:"after_conns"`
	ReturnedIn       float64 `json:"returned_in_s"`
}

// BadStart is one bad start-up: how the appliance was started, and how it ended.
type BadStart struct {
	Name    string   `json:"name"`
	Args    []string `json:"args"`
	Exit    int      `json:"exit"` // the exit status; -1 if it had to be killed
	Seconds float64  `json:"seconds"`
	Message string   `json:"message"` // the last line it printed on standard error
	Skipped string   `json:"skipped,omitempty"`
}
