package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// row is one figure measured: its values over the repetitions and its anchor's.
type row struct {
	fig            figure
	vals, anchor   []float64
	med, lo, hi    float64
	aMed, aLo, aHi float64
	ratio          float64 // median / anchor median; NaN without an anchor
	rLo, rHi       float64 // worst and best ratio over the spreads
	status         string  // "" when measured, else why not
	met            string  // "yes", "no" or ""
	unstable       bool    // a spread wider than unstableSpread: the machine disturbed the run
}

// unstableSpread is the max/min spread beyond which a figure or its anchor is flagged as
// unstable: on a quiet machine repetitions stay well within 2×.
const unstableSpread = 3

// values collects the metric unit of the result named bench over every repetition.
func values(o *outcome, bench, unit string, scale float64) []float64 {
	var vs []float64
	for _, r := range o.results {
		if r.Name != bench {
			continue
		}
		if v, ok := r.Metrics[unit]; ok {
			vs = append(vs, v*scale)
		}
	}
	return vs
}

func skipReason(o *outcome, bench string) string {
	switch {
	case o == nil:
		return "no run"
	case o.skipped != "":
		return "skipped: " + o.skipped
	}
	for _, s := range o.skips {
		if s.Name == bench || strings.HasPrefix(bench, s.Name+"/") {
			return "skipped by the benchmark: " + s.Reason
		}
	}
	if o.err != "" {
		return "failed (see raw.txt)"
	}
	if o.subset {
		return "not in the -quick subset"
	}
	return "no result"
}

// buildRows computes the rows of figs from the outcomes.
func buildRows(outcomes map[string]*outcome, figs []figure) []*row {
	var rows []*row
	choices := pinningsOf(outcomes)
	for _, f := range figs {
		if f.scale == 0 {
			f.scale = 1
		}
		if f.show == "" {
			f.show = f.unit
		}
		r := &row{fig: f, ratio: math.NaN()}
		rows = append(rows, r)
		o := outcomes[f.run]
		if o == nil || o.skipped != "" {
			r.status = skipReason(o, f.bench)
			continue
		}
		bench, ok := resolvePin(choices, f.run, f.bench)
		if ok {
			r.vals = values(o, bench, f.unit, f.scale)
		}
		if len(r.vals) == 0 {
			r.status = skipReason(o, bench)
			continue
		}
		r.med, r.lo, r.hi = gobench.Stats(r.vals)
		if f.anchor != "" {
			ao, aRun := o, f.run
			if f.aRun != "" {
				ao, aRun = outcomes[f.aRun], f.aRun
			}
			if aBench, ok := resolvePin(choices, aRun, f.aBench); ok && ao != nil && ao.skipped == "" {
				r.anchor = values(ao, aBench, f.aUnit, f.scale)
			}
			if len(r.anchor) > 0 {
				r.aMed, r.aLo, r.aHi = gobench.Stats(r.anchor)
				if r.aMed > 0 {
					r.ratio = r.med / r.aMed
				}
				if r.aLo > 0 && r.aHi > 0 {
					r.rLo, r.rHi = r.lo/r.aHi, r.hi/r.aLo
				}
				r.unstable = r.aLo <= 0 || r.aHi/r.aLo > unstableSpread || r.lo <= 0 || r.hi/r.lo > unstableSpread
			}
		}
		if t := f.target; t != nil {
			v := r.med
			if t.ofRatio {
				v = r.ratio
			}
			switch {
			case math.IsNaN(v):
			case t.atMost && v <= t.value, !t.atMost && v >= t.value:
				r.met = "yes"
			default:
				r.met = "no"
			}
		}
	}
	return rows
}

func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 10000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.2f", v)
	default:
		// Two significant digits, written out: an exact allocation count of 1.6 in a million
		// frames is 0.0000016, not 0.00.
		r, _ := strconv.ParseFloat(fmt.Sprintf("%.2g", v), 64)
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
}

func renderMarkdown(rec *record, rows []*row, outcomes map[string]*outcome, order []*outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# unikit benchmarks against their anchors\n\n")
	fmt.Fprintf(&b, "- command: `%s` (%s mode, %s)\n", rec.Command, rec.mode(), rec.Elapsed)
	fmt.Fprintf(&b, "- date: %s\n", rec.Date)
	fmt.Fprintf(&b, "- commit: %s\n", rec.commitLine())
	fmt.Fprintf(&b, "- machine: %d CPUs, %s, %s RAM, %s, %s\n", rec.NProc, rec.Model, rec.Memory, rec.Kernel, rec.Go)
	fmt.Fprintf(&b, "- tools: %s\n", rec.toolsLine())
	if rec.Provenance != "" {
		fmt.Fprintf(&b, "- provenance: %s\n", rec.Provenance)
	}
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at start: %s, at end: %s", rec.LoadStart, rec.LoadEnd)
	if l := firstLoad(rec.LoadStart); l > 0.5 {
		fmt.Fprintf(&b, " — the machine was shared with other work and loaded while these were taken; read the figures as ranges")
	}
	fmt.Fprintf(&b, "\n- pinning: each run's is in the Runs table at the end; the cross-link HTTP comparisons ran under two pinnings and are quoted from the one under which their anchor is strongest (see Pinnings)\n")
	fmt.Fprintf(&b, "- each point is repeated (-count); median is the median over the repetitions, min–max their spread; ratio = median / anchor median, with the range (worst min/max … best max/min) in parentheses\n")
	if !rec.Root {
		fmt.Fprintf(&b, "- not run as root: rows that create network namespaces were skipped\n")
	}
	for _, s := range rec.Missing {
		fmt.Fprintf(&b, "- missing %s\n", s)
	}
	fmt.Fprintf(&b, "\n| figure | unit | median | min–max | n | anchor | anchor median | ratio | target | met? |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		f := r.fig
		tgt := ""
		if f.target != nil {
			tgt = f.target.text
		}
		if r.status != "" {
			fmt.Fprintf(&b, "| %s | %s | — | — | 0 | %s | | | %s | %s |\n", f.name, f.show, f.anchor, tgt, r.status)
			continue
		}
		anchor, aMed, ratio := f.anchor, "", ""
		if len(r.anchor) > 0 {
			aMed = fmt.Sprintf("%s (%s–%s)", num(r.aMed), num(r.aLo), num(r.aHi))
			ratio = fmt.Sprintf("%.2f× (%.2f–%.2f)", r.ratio, r.rLo, r.rHi)
			if r.unstable {
				ratio += " ⚠ unstable"
			}
		} else if anchor != "" {
			anchor += " (not measured)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s–%s | %d | %s | %s | %s | %s | %s |\n",
			f.name, f.show, num(r.med), num(r.lo), num(r.hi), len(r.vals), anchor, aMed, ratio, tgt, r.met)
	}
	notes := ""
	for _, r := range rows {
		if r.fig.note != "" {
			notes += "- " + strings.TrimSpace(r.fig.name) + ": " + r.fig.note + "\n"
		}
	}
	unstable := false
	for _, r := range rows {
		unstable = unstable || r.unstable
	}
	if unstable {
		fmt.Fprintf(&b, "\n⚠ unstable: the figure or its anchor varied more than %d× between repetitions, so the machine disturbed the run; rerun on a quiet machine before reading the ratio.\n", unstableSpread)
	}
	if notes != "" {
		fmt.Fprintf(&b, "\nNotes:\n%s", notes)
	}
	fmt.Fprintf(&b, "\n![ratios against their targets](%s)\n", ratioChartFile)
	renderGrids(&b, outcomes)
	renderPinnings(&b, pinningsOf(outcomes))
	fmt.Fprintf(&b, "\n## Runs\n\n| id | command | pinning | expected (full) | time | outcome |\n|---|---|---|---|---|---|\n")
	for _, o := range order {
		res := fmt.Sprintf("%d result lines", len(o.results))
		switch {
		case o.skipped != "":
			res = "skipped: " + o.skipped
		case o.err != "":
			res = "failed: " + strings.ReplaceAll(strings.ReplaceAll(o.err, "\n", " "), "|", "\\|")
		}
		cmd := strings.ReplaceAll(o.cmd, "|", "\\|")
		if cmd != "" {
			cmd = "`" + cmd + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", o.run.id, cmd, o.run.pinning(rec.CPU, rec.CPUs), o.run.expectText(), o.duration, res)
	}
	fmt.Fprintf(&b, "\nThe full `go test` output of every run is in raw.txt.\n")
	return b.String()
}

// mode is "full" or "quick".
func (rec *record) mode() string {
	if rec.Quick {
		return "quick"
	}
	return "full"
}

func firstLoad(s string) float64 {
	var v float64
	fmt.Sscanf(s, "%g", &v)
	return v
}
