package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// result is one result line of name with metric unit at v.
func result(name, unit string, v float64) gobench.Result {
	return gobench.Result{Name: name, Iterations: 1, Metrics: map[string]float64{unit: v}}
}

// TestChoosePinning picks the pinning under which the anchor's median is highest, and quotes
// every figure of the run, and of a grid, from it.
func TestChoosePinning(t *testing.T) {
	const unit = "veth-kernel-req/s"
	o := &outcome{run: run{id: "http4k"}, results: []gobench.Result{
		result("BenchmarkHTTP4K/split", unit, 20000), result("BenchmarkHTTP4K/split", unit, 60000), result("BenchmarkHTTP4K/split", unit, 21000),
		result("BenchmarkHTTP4K/shared", unit, 50000), result("BenchmarkHTTP4K/shared", unit, 52000), result("BenchmarkHTTP4K/shared", unit, 51000),
	}}
	fair := fairBy{bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: unit}
	c := choosePinning(o, fair)
	// split's best repetition is the highest figure, but its median is not.
	require.Equal(t, "shared", c.chosen)
	require.Equal(t, map[string]float64{"split": 21000, "shared": 51000}, c.medians)

	// A pinning that was not measured cannot be chosen; nothing measured chooses nothing.
	o.results = o.results[:3]
	require.Equal(t, "split", choosePinning(o, fair).chosen)
	require.Equal(t, "", choosePinning(&outcome{}, fair).chosen)
	require.Equal(t, "", choosePinning(nil, fair).chosen)

	choices := map[string]pinChoice{"http4k": {chosen: "shared"}}
	b, ok := resolvePin(choices, "http4k", "BenchmarkHTTP4K/"+pinPlaceholder)
	require.True(t, ok)
	require.Equal(t, "BenchmarkHTTP4K/shared", b)
	_, ok = resolvePin(choices, "netmatrix", "BenchmarkNetMatrix/"+pinPlaceholder+"/4KiB/c50")
	require.False(t, ok)
	b, ok = resolvePin(choices, "netmatrix", "BenchmarkNetMatrix/split/4KiB/c50")
	require.True(t, ok)
	require.Equal(t, "BenchmarkNetMatrix/split/4KiB/c50", b)
}

// TestRowsUseFairPinning builds the HTTP4K rows from both pinnings' results: the rows take
// the shared figures, where the anchor is strongest, and drop the split ones.
func TestRowsUseFairPinning(t *testing.T) {
	var rs []gobench.Result
	for _, v := range []struct {
		pin             string
		stack, kernel   float64
		stackMachineCPU float64
	}{{"split", 30000, 20000, 50}, {"shared", 40000, 60000, 30}} {
		name := "BenchmarkHTTP4K/" + v.pin
		rs = append(rs, gobench.Result{Name: name, Iterations: 1, Metrics: map[string]float64{
			"tap-stack-req/s": v.stack, "veth-kernel-req/s": v.kernel, "tap-stack-machine-cpu-µs/req": v.stackMachineCPU}})
	}
	var http4k run
	for _, r := range runs {
		if r.id == "http4k" {
			http4k = r
		}
	}
	require.NotNil(t, http4k.fair)
	outcomes := map[string]*outcome{"http4k": {run: http4k, results: rs}}
	var figs []figure
	for _, f := range figures {
		if f.run == "http4k" && (f.unit == "tap-stack-req/s" || f.unit == "tap-stack-machine-cpu-µs/req") {
			figs = append(figs, f)
		}
	}
	require.Len(t, figs, 2)
	rows := buildRows(outcomes, figs)
	require.Equal(t, 40000.0, rows[0].med)
	require.InDelta(t, 40000.0/60000, rows[0].ratio, 1e-9)
	require.Equal(t, 30.0, rows[1].med)

	var b strings.Builder
	renderPinnings(&b, pinningsOf(outcomes))
	require.Contains(t, b.String(), "| http4k | net/http on kernel sockets over veth (veth-kernel-req/s) | split 20000, shared 60000 | shared |")
}

// TestFullRunBudget checks that every run says how long it takes in full mode and that a full
// run fits fullBudget, and that every run quoted under a chosen pinning measures both.
func TestFullRunBudget(t *testing.T) {
	var total time.Duration
	for _, r := range runs {
		require.NotZero(t, r.expect, "run %s has no expected duration", r.id)
		total += r.expect
		if r.fair != nil {
			require.Contains(t, r.fair.bench, pinPlaceholder, "run %s", r.id)
			require.Equal(t, pinSelf, r.pin, "run %s pins itself under each pinning", r.id)
		}
	}
	require.LessOrEqual(t, total, fullBudget)
	t.Logf("a full run: about %v", total)
}

// TestGridUsesFairPinning reads the cross-link grid's cells from the pinning under which
// nginx over veth is strongest, and the loopback grid's blog from split, as its anchor is.
func TestGridUsesFairPinning(t *testing.T) {
	var netgrid run
	for _, r := range runs {
		if r.id == "netgrid" {
			netgrid = r
		}
	}
	require.NotNil(t, netgrid.fair)
	var rs []gobench.Result
	for _, v := range []struct {
		pin         string
		nginx, blog float64
	}{{"split", 30000, 20000}, {"shared", 25000, 24000}} {
		rs = append(rs, gobench.Result{Name: "BenchmarkNetMatrix/" + v.pin + "/4KiB/c50", Iterations: 1, Metrics: map[string]float64{
			"nginx-veth-req/s": v.nginx, "tap-req/s": v.blog, "user-req/s": v.blog}})
	}
	outcomes := map[string]*outcome{"netgrid": {run: netgrid, results: rs}}
	cross, loopback := grids[1], grids[0]
	tap := cross.servers[0]
	require.Equal(t, "tap", tap.metric)
	require.Equal(t, 20000.0, gridValues(outcomes, tap, tap.prefix+"/4KiB/c50", "req/s").med)
	user := loopback.servers[2]
	require.Equal(t, "user", user.metric)
	require.Equal(t, 20000.0, gridValues(outcomes, user, user.prefix+"/4KiB/c50", "req/s").med)

	// nginx stronger under shared: the cross-link grid follows it, the loopback one stays.
	rs[1].Metrics["nginx-veth-req/s"] = 40000
	require.Equal(t, 24000.0, gridValues(outcomes, tap, tap.prefix+"/4KiB/c50", "req/s").med)
	require.Equal(t, 20000.0, gridValues(outcomes, user, user.prefix+"/4KiB/c50", "req/s").med)
}

// TestGridPinsEachPoint quotes each point of the cross-link grid from the pinning under which
// nginx over veth is strongest at that very point, not at the run's quoted point.
func TestGridPinsEachPoint(t *testing.T) {
	var netgrid run
	for _, r := range runs {
		if r.id == "netgrid" {
			netgrid = r
		}
	}
	require.True(t, netgrid.fair.perPoint)
	result := func(pin, point string, nginx, blog float64) gobench.Result {
		return gobench.Result{Name: "BenchmarkNetMatrix/" + pin + "/" + point, Iterations: 1,
			Metrics: map[string]float64{"nginx-veth-req/s": nginx, "tap-req/s": blog}}
	}
	rs := []gobench.Result{
		result("split", "4KiB/c50", 30000, 20000), result("shared", "4KiB/c50", 25000, 24000),
		result("split", "64KiB/c1", 7000, 9000), result("shared", "64KiB/c1", 12000, 10000),
	}
	outcomes := map[string]*outcome{"netgrid": {run: netgrid, results: rs}}
	tap := grids[1].servers[0]
	require.Equal(t, 20000.0, gridValues(outcomes, tap, tap.prefix+"/4KiB/c50", "req/s").med, "split: nginx's stronger at 4 KiB × 50")
	require.Equal(t, 10000.0, gridValues(outcomes, tap, tap.prefix+"/64KiB/c1", "req/s").med, "shared: nginx's stronger at 64 KiB × 1")

	var b strings.Builder
	renderPinnings(&b, pinningsOf(outcomes))
	require.Contains(t, b.String(), "4KiB/c50 split, 64KiB/c1 shared")
}
