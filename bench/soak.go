package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Files of the soak's results, in the results directory.
const (
	soakRecordFile = "soak.json"
	soakReportFile = "soak.md"
	soakRawFile    = "soak-raw.txt"
	soakChartFile  = "soak.svg"
)

// soakTest is the test the soak runs, in full mode, and where.
var soakTest = []string{"test", "-run", "^TestSoak$", "-count=1", "-timeout", "90m", "-v", "./examples/blog"}

// soakRun is what a soak leaves in soak.json: the run's provenance, how the test ended, and
// the report it wrote. With it, -soak -render writes soak.md and soak.svg again.
type soakRun struct {
	Record *record `json:"record"`
	// Passed is whether the test passed; Failed lists the subtests that failed.
	Passed bool     `json:"passed"`
	Failed []string `json:"failed,omitempty"`
	Report soakData `json:"report"`
}

// soakData is the soak test's report (package internal/soak's Report), as far as the results
// show it. Sizes are in bytes, times in seconds unless the name says otherwise.
type soakData struct {
	Mode struct {
		Name string `json:"name"`
	} `json:"mode"`
	Criteria  soakCriteria   `json:"criteria"`
	Nets      []soakNet      `json:"nets"`
	BadStarts []soakBadStart `json:"bad_starts"`
}

type soakNet struct {
	Net    string      `json:"net"`
	Mixed  *soakMixed  `json:"mixed"`
	Reload *soakReload `json:"reload"`
	Slow   *soakSlow   `json:"slow"`
	Idle   *soakIdle   `json:"idle"`
	Resets *soakResets `json:"resets"`
}

type soakSample struct {
	T          float64 `json:"t"`
	RSS        float64 `json:"rss"`
	Goroutines float64 `json:"goroutines"`
	Conns      float64 `json:"conns"`
}

type soakMixed struct {
	Seconds   float64        `json:"seconds"`
	Conns     int            `json:"conns"`
	Mix       map[string]int `json:"mix"`
	Requests  int64          `json:"requests"`
	ReqPerSec float64        `json:"req_per_s"`
	P50ms     float64        `json:"p50_ms"`
	P99ms     float64        `json:"p99_ms"`
	Failures  string         `json:"failures"`
	PeakRSS   float64        `json:"peak_rss"`
	Flatness  struct {
		WarmUp            float64 `json:"warm_up_s"`
		Samples           int     `json:"samples"`
		RSSFirst          float64 `json:"rss_first_mean"`
		RSSSecond         float64 `json:"rss_second_mean"`
		RSSAllowed        float64 `json:"rss_allowed_growth"`
		GoroutinesFirst   float64 `json:"goroutines_first_median"`
		GoroutinesSecond  float64 `json:"goroutines_second_median"`
		GoroutinesAllowed float64 `json:"goroutines_allowed_growth"`
		Flat              bool    `json:"flat"`
		FloorFlat         bool    `json:"floor_flat"`
	} `json:"flatness"`
	Samples []soakSample `json:"samples"`
	// BaselineRSS is zero in runs recorded before the floors and the settling after the
	// load were judged.
	BaselineRSS float64 `json:"baseline_rss"`
	SettledIn   float64 `json:"settled_in_s"`
}

// flat is the mixed load's verdict on flatness as the run judged it: the floors alone in the
// short version, the floors and the halves' means and medians in the full one, the halves'
// alone in runs recorded before the floors were judged.
func (m *soakMixed) flat(mode string) bool {
	switch {
	case m.BaselineRSS == 0:
		return m.Flatness.Flat
	case mode == "short":
		return m.Flatness.FloorFlat
	}
	return m.Flatness.Flat && m.Flatness.FloorFlat
}

type soakReload struct {
	Seconds  float64 `json:"seconds"`
	Reloads  int     `json:"reloads"`
	Reloaded int     `json:"reloaded"`
	Checked  int     `json:"checked"`
	Versions int     `json:"versions"`
	WrkReqs  int64   `json:"wrk_requests"`
	Failures string  `json:"failures"`
}

type soakSlow struct {
	Readers      int          `json:"readers"`
	HoldSeconds  float64      `json:"hold_seconds"`
	Connected    int          `json:"connected"`
	FilledIn     float64      `json:"filled_in_s"`
	ServedAtEnd  int          `json:"served_at_end"`
	BaselineRSS  float64      `json:"baseline_rss"`
	PeakRSS      float64      `json:"peak_rss"`
	ReadersRSS   float64      `json:"readers_rss"`
	AddedRSS     float64      `json:"added_rss"`
	AfterRSS     float64      `json:"after_rss"`
	ReturnedIn   float64      `json:"returned_in_s"`
	UnloadedP99  float64      `json:"unloaded_p99_ms"`
	LoadedP99    float64      `json:"loaded_p99_ms"`
	UnloadedRuns []float64    `json:"unloaded_p99_runs_ms"`
	LoadedRuns   []float64    `json:"loaded_p99_runs_ms"`
	NormalErrors string       `json:"normal_errors"`
	Samples      []soakSample `json:"samples"`
}

type soakIdle struct {
	Conns             int     `json:"conns"`
	BaselineRSS       float64 `json:"baseline_rss"`
	HeldRSS           float64 `json:"held_rss"`
	BytesPerConn      float64 `json:"bytes_per_conn"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	ServedWhileIdle   int     `json:"served_while_idle"`
	ServedAgain       int     `json:"served_again"`
	AfterRSS          float64 `json:"after_rss"`
	ReturnedIn        float64 `json:"returned_in_s"`
}

type soakResets struct {
	Clients          int     `json:"clients"`
	BaselineRSS      float64 `json:"baseline_rss"`
	PeakRSS          float64 `json:"peak_rss"`
	AfterRSS         float64 `json:"after_rss"`
	BaselineRoutines float64 `json:"baseline_goroutines"`
	AfterRoutines    float64 `json:"after_goroutines"`
	AfterConns       float64 `json:"after_conns"`
	ReturnedIn       float64 `json:"returned_in_s"`
}

type soakBadStart struct {
	Name    string   `json:"name"`
	Args    []string `json:"args"`
	Exit    int      `json:"exit"`
	Seconds float64  `json:"seconds"`
	Message string   `json:"message"`
	Skipped string   `json:"skipped"`
}

// failLine matches the test's lines for failed subtests.
var failLine = regexp.MustCompile(`^\s*--- FAIL: (\S+)`)

// runSoak runs the soak test from the library's root, in full mode or, with quick, the short
// version CI runs, keeping its output in soak-raw.txt and echoing its progress, then writes
// soak.json, soak.md and soak.svg (and soak.png with png) into dir.
func runSoak(root, dir string, quick, png bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rec := newRecord(root)
	rec.Command, rec.Quick = "go run ./bench -soak", quick
	mode := "full"
	if quick {
		rec.Command += " -quick"
		mode = "short"
	}
	out, err := os.CreateTemp("", "unikit-soak-*.json")
	if err != nil {
		return err
	}
	out.Close()
	defer os.Remove(out.Name())
	raw, err := os.Create(filepath.Join(dir, soakRawFile))
	if err != nil {
		return err
	}
	defer raw.Close()

	cmd := exec.Command("go", soakTest...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "UNIKIT_SOAK="+mode, "UNIKIT_SOAK_OUT="+out.Name())
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	began := time.Now()
	fmt.Fprintf(os.Stderr, "bench: soak: UNIKIT_SOAK=%s go %s (%s); load average %s\n", mode, strings.Join(soakTest, " "),
		map[bool]string{false: "about 35 minutes", true: "about 3 minutes"}[quick], rec.LoadStart)
	if err := cmd.Start(); err != nil {
		return err
	}
	run := &soakRun{Record: rec}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(raw, line)
			if m := failLine.FindStringSubmatch(line); m != nil {
				run.Failed = append(run.Failed, m[1])
			}
			if strings.Contains(line, "--- ") || strings.Contains(line, ".go:") && !strings.Contains(line, "level=") {
				fmt.Fprintf(os.Stderr, "bench: soak: %s\n", strings.TrimSpace(line))
			}
		}
	}()
	werr := cmd.Wait()
	pw.Close()
	<-done
	run.Passed = werr == nil
	rec.LoadEnd = loadAvg()
	rec.Elapsed = time.Since(began).Round(time.Second).String()
	b, err := os.ReadFile(out.Name())
	if err != nil || len(b) == 0 {
		return fmt.Errorf("the soak test wrote no report (%v); its output is in %s", werr, filepath.Join(dir, soakRawFile))
	}
	if err := json.Unmarshal(b, &run.Report); err != nil {
		return fmt.Errorf("the soak test's report: %w", err)
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(run); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, soakRecordFile), js.Bytes(), 0o644); err != nil {
		return err
	}
	return writeSoakReport(dir, run, png)
}

// renderSoak writes soak.md and soak.svg again from soak.json in dir.
func renderSoak(dir string, png bool) error {
	b, err := os.ReadFile(filepath.Join(dir, soakRecordFile))
	if err != nil {
		return err
	}
	run := &soakRun{}
	if err := decodeSoakRun(b, run); err != nil {
		return fmt.Errorf("%s: %w", soakRecordFile, err)
	}
	return writeSoakReport(dir, run, png)
}

// decodeSoakRun reads soak.json.
func decodeSoakRun(b []byte, run *soakRun) error {
	if err := json.Unmarshal(b, run); err != nil {
		return err
	}
	if run.Record == nil {
		return fmt.Errorf("no record of the run")
	}
	return nil
}

// writeSoakReport writes soak.md and the chart.
func writeSoakReport(dir string, run *soakRun, png bool) error {
	if err := os.WriteFile(filepath.Join(dir, soakReportFile), []byte(renderSoakMarkdown(run)), 0o644); err != nil {
		return err
	}
	ch := soakChart(run)
	if err := saveChart(dir, ch, false); err != nil {
		return err
	}
	if png {
		return saveChart(dir, ch, true)
	}
	return nil
}
