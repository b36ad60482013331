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
// with metrics METRIC-req/s, METRIC-cpu-µs/req and so on (httpload.Report's).
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
	{"p50-ms", "p50 ms", false},
	{"p99-ms", "p99 ms", true},
	{"rss-MiB", "peak RSS MiB", false},
}

var grids = []grid{
	{
		title: "Static HTTP on 127.0.0.1: wrk (one thread) on CPU 0, each server alone on CPU 1",
		short: "On 127.0.0.1: wrk on CPU 0, each server alone on CPU 1; the anchor is nginx",
		note:  "httpserve and http.FileServer serve a directory on kernel sockets; the blog appliance serves the same files through its own stack and the embedded user-mode network (-net user), whose port forward on 127.0.0.1 wrk connects to, so its CPU time includes both stacks and the forwarding.",
		servers: []gridServer{
			{"httpserve, kernel sockets", "wrkmatrix", "BenchmarkWrkMatrix", "httpserve"},
			{"http.FileServer, kernel sockets", "wrkmatrix", "BenchmarkWrkMatrix", "fileserver"},
			{"blog, -net user", "netmatrix", "BenchmarkNetMatrix/user", "httpserve"},
			{"nginx (anchor)", "wrkmatrix", "BenchmarkWrkMatrix", "nginx"},
		},
	},
	{
		title: "Static HTTP across a virtual link at MTU 1500: wrk (one thread) on CPU 0 in a namespace",
		short: "Across a virtual link at MTU 1500: wrk in a namespace on CPU 0; the anchor is nginx over veth",
		note:  "The blog appliance (httpserve on its own stack) on CPU 1 behind a TAP device (-net tap, offloads on) or on CPU 0 beside wrk behind its virtio driver, with testpmd forwarding between its vhost-user port and a TAP device on CPU 1 (-net vhost-user); nginx on kernel sockets in a second namespace on CPU 1, across a veth pair. Server CPU time is the server process's, which includes the kernel's work done on its behalf (for the blog over TAP: the TAP device's, for nginx: its TCP stack's), and not testpmd's.",
		servers: []gridServer{
			{"blog, -net tap", "netmatrix", "BenchmarkNetMatrix/tap", "httpserve"},
			{"blog, -net vhost-user", "netmatrix", "BenchmarkNetMatrix/vhost-user", "httpserve"},
			{"nginx over veth (anchor)", "netmatrix", "BenchmarkNetMatrix/nginx-veth", "nginx"},
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
