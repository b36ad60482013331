package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// raw.txt holds every run's output in a section of its own:
//
//	## ID (DURATION)
//	$ COMMAND
//	OUTPUT
//
// where OUTPUT is go test's for a benchmark run and one "NAME map[UNIT:VALUE ...]" line per
// result for a run bench measures itself. -render reads the results back from it.

// writeRawSection appends one run's section to w.
func writeRawSection(w io.Writer, id string, d time.Duration, cmd, output string) {
	fmt.Fprintf(w, "## %s (%s)\n$ %s\n%s\n", id, d, cmd, output)
}

// formatMeasured is a result of a run bench measures itself, as raw.txt holds it.
func formatMeasured(r gobench.Result) string {
	return fmt.Sprintf("%s %v\n", r.Name, r.Metrics)
}

var reMeasured = regexp.MustCompile(`^(\S+) map\[(.*)\]$`)

// parseMeasured reads the lines formatMeasured wrote back.
func parseMeasured(output string) []gobench.Result {
	var rs []gobench.Result
	for _, l := range strings.Split(output, "\n") {
		m := reMeasured.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		r := gobench.Result{Name: m[1], Iterations: 1, Metrics: map[string]float64{}}
		for _, kv := range strings.Fields(m[2]) {
			k, v, ok := strings.Cut(kv, ":")
			if f, err := strconv.ParseFloat(v, 64); ok && err == nil {
				r.Metrics[k] = f
			}
		}
		rs = append(rs, r)
	}
	return rs
}

var reSection = regexp.MustCompile(`(?m)^## (\S+) \(([^)]*)\)\n\$ `)

// readRaw splits raw.txt into its sections' outputs by run id.
func readRaw(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sections := map[string]string{}
	locs := reSection.FindAllSubmatchIndex(b, -1)
	for i, loc := range locs {
		end := len(b)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := b[loc[1]:end]
		// Drop the command line; the rest is the output.
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			body = body[nl+1:]
		} else {
			body = nil
		}
		sections[string(b[loc[2]:loc[3]])] = string(body)
	}
	return sections, nil
}

// outcomesFromRecord rebuilds the outcomes of the runs rec lists from their sections of
// raw.txt, in rec's order.
func outcomesFromRecord(rec *record, sections map[string]string) (map[string]*outcome, []*outcome, error) {
	byID := map[string]run{}
	for _, r := range runs {
		byID[r.id] = r
	}
	outcomes := map[string]*outcome{}
	var order []*outcome
	for _, rr := range rec.Runs {
		r, ok := byID[rr.ID]
		if !ok {
			return nil, nil, fmt.Errorf("the record names run %q, which bench no longer has", rr.ID)
		}
		o := &outcome{run: r, cmd: rr.Cmd, skipped: rr.Skipped, err: rr.Err, subset: rr.Subset}
		if rr.Duration != "" {
			d, err := time.ParseDuration(rr.Duration)
			if err != nil {
				return nil, nil, fmt.Errorf("run %s: duration: %w", rr.ID, err)
			}
			o.duration = d
		}
		if o.skipped == "" {
			out, ok := sections[rr.ID]
			if !ok {
				return nil, nil, fmt.Errorf("run %s ran but raw.txt has no section for it", rr.ID)
			}
			if r.measure != nil {
				o.results = parseMeasured(out)
			} else {
				o.results, o.skips, _ = gobench.Parse(strings.NewReader(out))
			}
		}
		outcomes[r.id] = o
		order = append(order, o)
	}
	return outcomes, order, nil
}

// runRecords is how the runs in order ended, for the record.
func runRecords(order []*outcome) []runRecord {
	var rs []runRecord
	for _, o := range order {
		rr := runRecord{ID: o.run.id, Cmd: o.cmd, Skipped: o.skipped, Err: o.err, Subset: o.subset}
		if o.skipped == "" {
			rr.Duration = o.duration.String()
		}
		rs = append(rs, rr)
	}
	return rs
}
