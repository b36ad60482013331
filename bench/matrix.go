package main

import (
	"fmt"
	"strings"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// grid is one table of the static HTTP matrix: for every point (file size × connections),
// a line per server with its figures and its ratios to the anchor server at the same point.
type grid struct {
	title   string
	short   string // the title in the matrix chart
	note    string
	servers []gridServer // the anchor last
}

// gridServer is one server's results in a grid: sub-benchmarks PREFIX/SIZE/cCONNS of a run,
// with metrics METRIC-req/s, METRIC-cpu-µs/req and so on (httpload.Report's). A prefix with
// pinPlaceholder takes the pinning chosen for the run (see fairBy).
type gridServer struct {
	label, run, prefix, metric string
}

// gridSizes and gridConns are httpload.Sizes and httpload.Conns, as the sub-benchmarks name
// them and as the table shows them.
var (
	gridSizes = []struct{ name, show string }{{"4KiB", "4 KiB"}, {"64KiB", "64 KiB"}, {"1MiB", "1 MiB"}}
	gridConns = []int{1, 50, 500}
)

// gridMetrics are a grid's columns: metric suffix, header, and whether the column has a
// ratio to the anchor beside it.
var gridMetrics = []struct {
	suffix, header string
	ratio          bool
}{
	{"req/s", "req/s", true},
	{"cpu-µs/req", "server CPU µs/req", true},
	{"machine-cpu-µs/req", "machine CPU µs/req", true},
	{"p50-ms", "p50 ms", false},
	{"p99-ms", "p99 ms", true},
	{"rss-MiB", "peak RSS MiB", false},
}

var grids = []grid{
	{
		title: "Static HTTP on 127.0.0.1: wrk on CPU 0, each server alone on CPU 1",
		short: "On 127.0.0.1: wrk on CPU 0, each server alone on CPU 1; the anchor is nginx",
		note:  "httpserve and http.FileServer serve a directory on kernel sockets (wrk with one thread); the blog appliance serves the same files through its own stack and the embedded user-mode network (-net user), whose port forward on 127.0.0.1 wrk (two threads) connects to, so its CPU time includes both stacks and the forwarding. The blog's figures are from the split pinning, the one nginx has here, one round per point (3 s; 10 s at 1 MiB × 500).",
		servers: []gridServer{
			{"httpserve, kernel sockets", "wrkmatrix", "BenchmarkWrkMatrix", "httpserve"},
			{"http.FileServer, kernel sockets", "wrkmatrix", "BenchmarkWrkMatrix", "fileserver"},
			{"blog, -net user", "netgrid", "BenchmarkNetMatrix/split", "user"},
			{"nginx (anchor)", "wrkmatrix", "BenchmarkWrkMatrix", "nginx"},
		},
	},
	{
		title: "Static HTTP across a virtual link at MTU 1500: wrk (two threads) in a namespace",
		short: "Across a virtual link at MTU 1500: wrk in a namespace; the anchor is nginx over veth",
		note:  "At each point under the pinning under which nginx over veth is strongest at that point (the Pinnings section lists them). At each point the blog over TAP and nginx over veth, the pair the targets judge, are measured in turn in three rounds (10 s each at 500 connections, 3 s otherwise, each after a second's warm-up on a fresh server), the cell giving the median and min–max of the rounds; vhost-user is measured in the first round only (3 s; 10 s at 1 MiB × 500), as is -net user in the table above. The blog appliance (httpserve on its own stack) behind a TAP device (-net tap, offloads on), or on CPU 0 beside wrk behind its virtio driver with testpmd forwarding between its vhost-user port and a TAP device on CPU 1 (-net vhost-user, under either pinning); nginx on kernel sockets in a second namespace, across a veth pair. Server CPU time is the server's processes' (for vhost-user the blog's and testpmd's, whose forwarding core busy-polls), which includes the kernel's work done in their system calls but not its softirq receive work; machine CPU is every CPU's busy time (/proc/stat) over the measurement, wrk and the kernel included.",
		servers: []gridServer{
			{"blog, -net tap", "netgrid", "BenchmarkNetMatrix/" + pinPlaceholder, "tap"},
			{"blog, -net vhost-user", "netgrid", "BenchmarkNetMatrix/" + pinPlaceholder, "vhost-user"},
			{"nginx over veth (anchor)", "netgrid", "BenchmarkNetMatrix/" + pinPlaceholder, "nginx-veth"},
		},
	},
}

// gridCell is one metric of one server at one point.
type gridCell struct {
	vals        []float64
	med, lo, hi float64
}

func gridValues(outcomes map[string]*outcome, s gridServer, bench, suffix string) gridCell {
	o := outcomes[s.run]
	if o == nil || o.skipped != "" {
		return gridCell{}
	}
	bench, ok := resolvePin(pinningsOf(outcomes), s.run, bench)
	if !ok {
		return gridCell{}
	}
	c := gridCell{vals: values(o, bench, s.metric+"-"+suffix, 1)}
	if len(c.vals) > 0 {
		c.med, c.lo, c.hi = gobench.Stats(c.vals)
	}
	return c
}

// renderGrids writes the grids as Markdown tables.
func renderGrids(b *strings.Builder, outcomes map[string]*outcome) {
	fmt.Fprintf(b, "\n## Static HTTP matrix\n\nEach cell is the median over the repetitions with their min–max; × is the ratio of medians to the anchor at the same point (for CPU and p99, lower is better). A missing server says why under Runs. Peak RSS is the server process's: the appliance's TCP/IP stack and its socket buffers are in it, a kernel server's socket buffers are not.\n\n![every server's requests/s and CPU per request against nginx at every point](%s)\n", matrixChartFile)
	for _, g := range grids {
		fmt.Fprintf(b, "\n### %s\n\n%s\n\n| file × conns | server |", g.title, g.note)
		sep := "|---|---|"
		for _, m := range gridMetrics {
			fmt.Fprintf(b, " %s |", m.header)
			sep += "---|"
			if m.ratio {
				b.WriteString(" × |")
				sep += "---|"
			}
		}
		fmt.Fprintf(b, "\n%s\n", sep)
		anchor := g.servers[len(g.servers)-1]
		for _, size := range gridSizes {
			for _, conns := range gridConns {
				point := fmt.Sprintf("%s/c%d", size.name, conns)
				measured := false
				for _, s := range g.servers {
					measured = measured || len(gridValues(outcomes, s, s.prefix+"/"+point, "req/s").vals) > 0
				}
				if !measured {
					continue // not in the -quick subset, or no server ran
				}
				for i, s := range g.servers {
					label := ""
					if i == 0 {
						label = fmt.Sprintf("%s × %d", size.show, conns)
					}
					fmt.Fprintf(b, "| %s | %s |", label, s.label)
					for _, m := range gridMetrics {
						c := gridValues(outcomes, s, s.prefix+"/"+point, m.suffix)
						if len(c.vals) == 0 {
							b.WriteString(" — |")
						} else {
							fmt.Fprintf(b, " %s (%s–%s) |", num(c.med), num(c.lo), num(c.hi))
						}
						if !m.ratio {
							continue
						}
						a := gridValues(outcomes, anchor, anchor.prefix+"/"+point, m.suffix)
						if s == anchor || len(c.vals) == 0 || len(a.vals) == 0 || a.med == 0 {
							b.WriteString(" |")
							continue
						}
						fmt.Fprintf(b, " %.2f× |", c.med/a.med)
					}
					b.WriteString("\n")
				}
			}
		}
	}
}
