package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// pinPlaceholder stands for the pinning in the result names of a run that measures its
// comparison under several (httpload.Pinnings): "BenchmarkHTTP4K/{pin}".
const pinPlaceholder = "{pin}"

// pinnings are the sub-benchmark names of httpload.Pinnings, in its order.
var pinnings = []string{"split", "shared"}

// fairBy says how a run measured under several pinnings picks the one its figures are
// quoted from: the pinning under which the anchor's metric (higher is better) has the
// highest median, since a comparison is only fair against an anchor that was not handicapped.
// The other pinning's figures stay in raw.txt and the Pinnings section of results.md.
//
// A run that measures many points (a matrix) sets perPoint: each point is then quoted from
// the pinning under which the anchor is strongest at that point, since one pinning chosen at
// one point can handicap the anchor at another (nginx over veth served 64 KiB × 1 at 7,179
// req/s under split and 12,002 under shared in one run); bench still names the point whose
// choice the Pinnings section reports for the run as a whole.
type fairBy struct {
	bench    string // result name of the anchor, with pinPlaceholder
	unit     string // its metric, higher is better ("nginx-veth-req/s")
	label    string // the anchor in words
	perPoint bool   // choose at every point of the run, not once for the run
}

// pinChoice is the outcome of fairBy for one run: the anchor's median under each pinning
// measured, and the pinning chosen.
type pinChoice struct {
	medians map[string]float64
	chosen  string // "" when no pinning was measured
	// byPoint, for a perPoint run, is the pinning chosen at each point, by its result name
	// with pinPlaceholder.
	byPoint map[string]string
}

// choosePinning picks, of the pinnings o measured, the one under which the anchor f names is
// strongest; ties go to the first in pinnings. For a perPoint run it also picks at every
// point o measured.
func choosePinning(o *outcome, f fairBy) pinChoice {
	c := choosePinningAt(o, f.bench, f.unit)
	if !f.perPoint || o == nil {
		return c
	}
	c.byPoint = map[string]string{}
	for _, r := range o.results {
		point, ok := pointOf(r.Name)
		if _, done := c.byPoint[point]; !ok || done {
			continue
		}
		if pc := choosePinningAt(o, point, f.unit); pc.chosen != "" {
			c.byPoint[point] = pc.chosen
		}
	}
	return c
}

// choosePinningAt picks, of the pinnings o measured at the result name bench (with
// pinPlaceholder), the one under which unit has the highest median.
func choosePinningAt(o *outcome, bench, unit string) pinChoice {
	c := pinChoice{medians: map[string]float64{}}
	if o == nil {
		return c
	}
	for _, p := range pinnings {
		vs := values(o, withPin(bench, p), unit, 1)
		if len(vs) == 0 {
			continue
		}
		med, _, _ := gobench.Stats(vs)
		c.medians[p] = med
		if c.chosen == "" || med > c.medians[c.chosen] {
			c.chosen = p
		}
	}
	return c
}

// pointOf returns a result name with its pinning segment ("BenchmarkX/split/4KiB/c50")
// replaced by pinPlaceholder, and false if it has none.
func pointOf(name string) (string, bool) {
	parts := strings.Split(name, "/")
	for i, part := range parts {
		for _, p := range pinnings {
			if part == p {
				parts[i] = pinPlaceholder
				return strings.Join(parts, "/"), true
			}
		}
	}
	return name, false
}

// withPin replaces pinPlaceholder in a result name with the pinning p.
func withPin(bench, p string) string { return strings.ReplaceAll(bench, pinPlaceholder, p) }

// pinningsOf returns the pinning chosen for each run that has a fairBy, by run id.
func pinningsOf(outcomes map[string]*outcome) map[string]pinChoice {
	m := map[string]pinChoice{}
	for _, r := range runs {
		if r.fair != nil {
			m[r.id] = choosePinning(outcomes[r.id], *r.fair)
		}
	}
	return m
}

// resolvePin returns bench with its placeholder replaced by the pinning chosen for run, and
// false if bench has a placeholder but no pinning was chosen for run.
func resolvePin(choices map[string]pinChoice, run, bench string) (string, bool) {
	if !strings.Contains(bench, pinPlaceholder) {
		return bench, true
	}
	c := choices[run].chosen
	if p, ok := choices[run].byPoint[bench]; ok {
		c = p
	}
	if c == "" {
		return bench, false
	}
	return withPin(bench, c), true
}

// renderPinnings writes the Pinnings section of results.md: for every run measured under
// both pinnings, its anchor's median under each and the pinning its figures are quoted from.
func renderPinnings(b *strings.Builder, choices map[string]pinChoice) {
	var lines []string
	for _, r := range runs {
		c, ok := choices[r.id]
		if !ok || c.chosen == "" {
			continue
		}
		var ms []string
		for _, p := range pinnings {
			if v, ok := c.medians[p]; ok {
				ms = append(ms, fmt.Sprintf("%s %s", p, num(v)))
			}
		}
		quoted := c.chosen
		if r.fair.perPoint {
			quoted = "at each point, its own: " + pointChoices(c.byPoint)
		}
		lines = append(lines, fmt.Sprintf("| %s | %s (%s) | %s | %s |", r.id, r.fair.label, r.fair.unit, strings.Join(ms, ", "), quoted))
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\n## Pinnings\n\nThe cross-link comparisons run under two pinnings: split (the client on CPU 0, each server on CPU 1, the kernel's receive work for the veth or TAP device wherever the kernel puts it) and shared (client and server both free on CPUs 0-1). Each run's figures above are quoted from the pinning under which its anchor is strongest (for the matrix, at each point), so that no ratio rests on a handicapped anchor; the other pinning's figures are in raw.txt.\n\n| run | anchor (metric) | anchor median by pinning | quoted |\n|---|---|---|---|\n")
	b.WriteString(strings.Join(lines, "\n") + "\n")
}

// pointChoices lists a perPoint run's choices, "4KiB/c1 shared, ...", in the order the
// points' names sort, by the name's part after the pinning.
func pointChoices(byPoint map[string]string) string {
	var ps []string
	for point, p := range byPoint {
		_, after, _ := strings.Cut(point, pinPlaceholder+"/")
		ps = append(ps, after+" "+p)
	}
	slices.Sort(ps)
	return strings.Join(ps, ", ")
}
