package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// pinning says how a run's test binary is placed on cores.
type pinning int

const (
	pinOne  pinning = iota // taskset -c <-cpu>: in-process micro-benchmarks, one core
	pinPair                // taskset -c <-cpus>: benchmarks whose client and server are both children of the test binary
	pinSelf                // the benchmark pins its own processes (httpserve's Wrk, testpmd's -l)
	// pinDriver: taskset -c 0 for the test binary, whose virtio driver faces a testpmd that
	// busy-polls CPU 1 (testpmd re-pins itself with -l), as DPDK's own driver does in the
	// reference.
	pinDriver
)

// run is one `go test -bench` invocation; it produces the results several figures read.
type run struct {
	id        string
	pkg       string
	bench     string
	quick     settings // count 0: not run in -quick mode
	full      settings
	pin       pinning
	tools     []string // programs the benchmark needs (see tools)
	root      bool     // needs root (namespaces, TAP)
	env       func(quick bool) []string
	pinDetail string // for pinSelf: how the benchmark pins itself
	// quickBench, if set, is the -bench pattern in -quick mode (a subset of bench).
	quickBench string
	// measure, if set, replaces go test: bench computes the run's results itself in the
	// module root; cmd says what it does.
	measure func(root string) ([]gobench.Result, error)
	cmd     string
	// expect is how long the run takes in full mode on a quiet 2-core machine, build
	// included; fullBudget bounds their sum.
	expect time.Duration
	// timeout is go test's -timeout for the run; 0 means defaultTimeout.
	timeout time.Duration
	// fair, for a run that measures its comparison under several pinnings, says which
	// pinning its figures are quoted from.
	fair *fairBy
}

// fullBudget is the most a full run of every benchmark may take on a quiet 2-core machine:
// under an hour, a sitting's worth of a quiet machine. It was three quarters of an hour until
// netgrid measured each point of the static matrix in three interleaved rounds of the blog
// over TAP and nginx over veth (10 s each at 500 connections) rather than one short round: at
// 500 connections one round put the blog anywhere between 0.4× and 1.0× nginx from one round
// to the next (measured under load), too wide to judge a ≥ 1.0× target by one. That costs
// about eight and a half minutes more, and no other run measures those points.
const fullBudget = 55 * time.Minute

// defaultTimeout is go test's -timeout for a run that sets none: well beyond any run's expect.
const defaultTimeout = 20 * time.Minute

// timeoutFlag is the run's go test -timeout, in whole minutes ("20m").
func (r run) timeoutFlag() string {
	t := r.timeout
	if t == 0 {
		t = defaultTimeout
	}
	return fmt.Sprintf("%dm", int(t.Minutes()))
}

// expectText is expect for the Runs table.
func (r run) expectText() string {
	if r.expect == 0 {
		return ""
	}
	return "~" + r.expect.String()
}

// bulkSeconds sets UNIKIT_BULK_SECONDS (stacktest.BulkSecondsEnv), the length of each
// repetition of a bulk TCP benchmark, for -quick and full mode.
func bulkSeconds(quick, full int) func(bool) []string {
	return func(q bool) []string {
		if q {
			return []string{fmt.Sprintf("UNIKIT_BULK_SECONDS=%d", quick)}
		}
		return []string{fmt.Sprintf("UNIKIT_BULK_SECONDS=%d", full)}
	}
}

// wrkSeconds sets UNIKIT_WRK_SECONDS (httpload.SecondsEnv), the length of each wrk or h2load
// measurement, for -quick and full mode.
func wrkSeconds(quick, full int) func(bool) []string {
	return func(q bool) []string {
		if q {
			return []string{fmt.Sprintf("UNIKIT_WRK_SECONDS=%d", quick)}
		}
		return []string{fmt.Sprintf("UNIKIT_WRK_SECONDS=%d", full)}
	}
}

// pinning says in words how the run is placed on cores, for the Runs table; cpu and cpus are
// the -cpu and -cpus lists.
func (r run) pinning(cpu, cpus string) string {
	switch r.pin {
	case pinOne:
		return "test binary on CPU " + cpu
	case pinPair:
		return "test binary and its children on CPUs " + cpus
	case pinDriver:
		return "test binary (the driver) on CPU 0, testpmd forwarding on CPU 1"
	}
	return r.pinDetail
}

// settings are -benchtime and -count for one mode.
type settings struct {
	benchtime string
	count     int
}

// target is what a figure, or its ratio to the anchor, must reach.
type target struct {
	atMost  bool // "≤" rather than "≥"
	value   float64
	ofRatio bool // compares the ratio to the anchor rather than the median
	text    string
}

// figure is one row of the table.
type figure struct {
	run    string // run id
	name   string
	bench  string // result name, e.g. "BenchmarkTAPBulk/offload/stack-to-kernel"
	unit   string // metric unit in the result line
	scale  float64
	show   string // unit shown (defaults to unit)
	anchor string // label of the anchor, empty if none
	aRun   string // anchor's run id (defaults to run)
	aBench string
	aUnit  string
	target *target
	note   string // caveat printed under the table
	short  string // label in the chart (defaults to name)
}

func atLeast(v float64, ratio bool, text string) *target {
	return &target{value: v, ofRatio: ratio, text: text}
}

func atMost(v float64, ratio bool, text string) *target {
	return &target{atMost: true, value: v, ofRatio: ratio, text: text}
}

var runs = []run{
	{id: "pipe", pkg: "./netstack/link/pipe", bench: "^BenchmarkStackToStack$",
		quick: settings{"200x", 3}, full: settings{"2s", 5}, pin: pinOne, expect: 30 * time.Second},
	{id: "tapbulk", pkg: "./netstack/link/tap", bench: "^BenchmarkTAPBulk$/^offload$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinPair, root: true,
		env: bulkSeconds(2, 10), expect: 75 * time.Second},
	{id: "iperf3", pkg: "./netstack/link/tap", bench: "^BenchmarkVethBulk$/^iperf3$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinPair, root: true, tools: []string{"iperf3"},
		env: bulkSeconds(2, 10), expect: 40 * time.Second},
	{id: "vethbulk", pkg: "./netstack/link/tap", bench: "^BenchmarkVethBulk$/^go$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinPair, root: true,
		env: bulkSeconds(2, 10), expect: 40 * time.Second},
	{id: "http4k", pkg: "./netstack/link/tap", bench: "^BenchmarkHTTP4K$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, root: true, tools: []string{"wrk", "taskset"},
		pinDetail: "under each pinning in turn: split, wrk on CPU 0 and the test binary (the server) on CPU 1; shared, both on CPUs 0-1 (taskset and sched_setaffinity inside the benchmark)",
		env:       wrkSeconds(2, 10), expect: 4 * time.Minute,
		fair: &fairBy{bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "veth-kernel-req/s", label: "net/http on kernel sockets over veth"}},
	{id: "wrkmatrix", pkg: "./httpserve", bench: "^BenchmarkWrkMatrix$", quickBench: "^BenchmarkWrkMatrix$/^4KiB$/^c50$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, tools: []string{"wrk", "nginx", "taskset"},
		pinDetail: "wrk on CPU 0, each server on CPU 1 (taskset inside the benchmark)",
		env:       wrkSeconds(2, 2), expect: 5*time.Minute + 40*time.Second},
	{id: "h2load", pkg: "./httpserve", bench: "^BenchmarkH2Load$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, tools: []string{"h2load", "nginx", "taskset"},
		pinDetail: "h2load on CPU 0, each server on CPU 1 (taskset inside the benchmark)",
		env:       wrkSeconds(2, 3), expect: 30 * time.Second},
	// netmatrix is the quoted cell of the static matrix, every server measured long in each
	// of three rounds; netgrid is the whole matrix, each point in three interleaved rounds of
	// the blog over TAP and its anchor nginx over veth (the pair issue 16's targets judge; 10 s
	// each at 500 connections, 3 s otherwise) and one round of the other two links.
	{id: "netmatrix", pkg: "./examples/blog", bench: "^BenchmarkNetMatrix$/^(split|shared)$/^4KiB$/^c50$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, root: true, tools: []string{"wrk", "nginx", "taskset"},
		pinDetail: netmatrixPins, env: wrkSeconds(2, 10), expect: 5 * time.Minute, fair: netmatrixFair},
	{id: "netgrid", pkg: "./examples/blog", bench: "^BenchmarkNetMatrix$", quickBench: "^BenchmarkNetMatrix$/^(split|shared)$/^4KiB$/^c50$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, root: true, tools: []string{"wrk", "nginx", "taskset"},
		pinDetail: netmatrixPins, env: netgridEnv, expect: 16 * time.Minute, timeout: 40 * time.Minute, fair: netgridFair},
	{id: "tagblog", pkg: "./examples/tagblog", bench: "^BenchmarkWrkPostVsStatic$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, tools: []string{"wrk", "taskset"},
		pinDetail: "wrk on CPU 0, each server on CPU 1 (taskset inside the benchmark), the two in turn",
		env:       wrkSeconds(2, 5), expect: time.Minute},
	{id: "tagstart", pkg: "./examples/tagblog", bench: "^BenchmarkStartTenThousandPosts$",
		quick: settings{"1x", 1}, full: settings{"3x", 3}, pin: pinPair, expect: 20 * time.Second},
	{id: "queue", pkg: "./examples/queue", bench: "^BenchmarkUpload$",
		quick: settings{"0.5s", 1}, full: settings{"3s", 3}, pin: pinPair, expect: time.Minute},
	{id: "claims", pkg: "./examples/queue", bench: "^BenchmarkClaimLatency$",
		quick: settings{"100x", 1}, full: settings{"400x", 3}, pin: pinPair, tools: []string{"etcd"}, expect: 40 * time.Second},
	{id: "observe", pkg: "./observe", bench: "^BenchmarkRequests$",
		quick: settings{"0.5s", 1}, full: settings{"3s", 3}, pin: pinPair, expect: 45 * time.Second},
	{id: "stream", pkg: "./netstack", bench: "^BenchmarkStream(Pipe|TAP)$",
		quick: settings{"64x", 1}, full: settings{"512x", 3}, pin: pinPair, root: true, expect: 40 * time.Second},
	{id: "cached", pkg: "./httpserve", bench: "^BenchmarkServeCached$",
		quick: settings{"20000x", 3}, full: settings{"1s", 5}, pin: pinOne, expect: 10 * time.Second},
	{id: "start", pkg: "./examples/blog", bench: "^BenchmarkStartToFirstResponse$",
		quick: settings{"3x", 1}, full: settings{"5x", 3}, pin: pinPair, expect: 5 * time.Second},
	{id: "rss", pkg: "./examples/blog", bench: "^BenchmarkResidentMemory$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinPair, expect: 10 * time.Second},
	{id: "idle", pkg: "./examples/blog", bench: "^BenchmarkIdleConnections$",
		quick: settings{"1x", 1}, full: settings{"1x", 2}, pin: pinSelf, root: true, tools: []string{"nginx"},
		pinDetail: "unpinned: the blog through -net user, nginx on loopback, the blog over TAP and nginx across veth in turn, each holding the same client's idle connections",
		env:       idleConns(1000, 5000), expect: 130 * time.Second},
	{id: "loadedmem", pkg: "./examples/blog", bench: "^BenchmarkLoadedMemory$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, root: true, tools: []string{"wrk"},
		pinDetail: "unpinned: the blog through -net user and over TAP in turn, wrk -t2 -c500 on the 1 MiB file",
		env:       wrkSeconds(2, 10), expect: 90 * time.Second},
	{id: "size", quick: settings{"", 1}, full: settings{"", 1}, pin: pinSelf, pinDetail: "a build, not timed",
		cmd: "go build -o $TMP/blog ./examples/blog && go build -ldflags='-s -w' -o $TMP/blog-stripped ./examples/blog; stat the files", measure: blogSize,
		expect: 5 * time.Second},
	{id: "userpasst", pkg: "./examples/blog", bench: "^BenchmarkUserVsPasst$",
		quick: settings{"1x", 1}, full: settings{"1x", 1}, pin: pinSelf, root: true, tools: []string{"wrk", "passt", "taskset"},
		pinDetail: "wrk on CPU 0, the blog (and passt) on CPU 1 (taskset inside the benchmark); the two paths interleaved in each round",
		env:       userPasstEnv, expect: 2 * time.Minute},
	{id: "userbulk", pkg: "./appliance", bench: "^BenchmarkUserBulk$",
		quick: settings{"128x", 2}, full: settings{"512x", 5}, pin: pinPair, expect: 5 * time.Second},
	{id: "virtio", pkg: "./virtio", bench: "^BenchmarkNet(Tx|Rx)$/^split$",
		quick: settings{"0.3s", 2}, full: settings{"1s", 5}, pin: pinOne, expect: 15 * time.Second},
	{id: "xen", pkg: "./xenfront/netfront", bench: "^Benchmark(Transmit|Receive)$/^64B$",
		quick: settings{"0.3s", 2}, full: settings{"1s", 5}, pin: pinOne, expect: 20 * time.Second},
	{id: "socket", pkg: "./netstack/link/socket", bench: "^BenchmarkThroughput$/^1514B$",
		quick: settings{"0.3s", 2}, full: settings{"1s", 5}, pin: pinOne, expect: 10 * time.Second},
	{id: "vhost", pkg: "./virtio", bench: "^BenchmarkVhostUser(Macswap|Rx)$/^packed$",
		quick: settings{"1s", 1}, full: settings{"2s", 3}, pin: pinDriver, tools: []string{"dpdk-testpmd", "taskset"}, expect: 30 * time.Second},
	{id: "dpdk", pkg: "./virtio", bench: "^BenchmarkDPDKVirtioUserTxonly$",
		quick: settings{"1x", 1}, full: settings{"1x", 3}, pin: pinSelf, tools: []string{"dpdk-testpmd"},
		pinDetail: "backend testpmd forwards on CPU 1, DPDK's virtio-user testpmd on CPU 0 (-l and --main-lcore)", expect: 20 * time.Second},
	{id: "vhostbulk", pkg: "./virtio", bench: "^BenchmarkVhostUserBulk$/^(tso|mtu1500)$", quickBench: "^BenchmarkVhostUserBulk$/^tso$",
		quick: settings{"200x", 1}, full: settings{"300x", 5}, pin: pinDriver, tools: []string{"dpdk-testpmd", "taskset"}, expect: time.Minute},
	// vm boots each image b.N times in interleaved rounds and reports their medians; the
	// smallest -m is searched once per run (a dozen boots), so the full run is one run of 3x.
	{id: "vm", pkg: "./cmd/unikit", bench: "^BenchmarkVM$",
		quick: settings{"1x", 1}, full: settings{"3x", 1}, pin: pinSelf, tools: []string{"qemu-system-x86_64", "wrk"},
		pinDetail: "QEMU (TCG, one vCPU) and wrk unpinned; the two NIC paths interleaved in each round",
		expect:    4 * time.Minute},
	// xenbulk boots Xen 4.17, an arm64 dom0 and a domU under QEMU (TCG) once, and moves 16 MiB
	// each way through our netfront and then through Linux's on the same vif.
	{id: "xenbulk", pkg: "./internal/xenlab", bench: "^BenchmarkXenBulk$",
		quick: settings{"1x", 1}, full: settings{"1x", 1}, pin: pinSelf, tools: []string{"qemu-system-aarch64"},
		pinDetail: "QEMU (TCG, two vCPUs: Xen, dom0 and the domU) unpinned; both front ends in the same boot",
		expect:    2 * time.Minute},
}

// idleConns sets UNIKIT_IDLE_CONNS, how many idle connections BenchmarkIdleConnections holds,
// for -quick and full mode.
func idleConns(quick, full int) func(bool) []string {
	return func(q bool) []string {
		if q {
			return []string{fmt.Sprintf("UNIKIT_IDLE_CONNS=%d", quick)}
		}
		return []string{fmt.Sprintf("UNIKIT_IDLE_CONNS=%d", full)}
	}
}

// userPasstEnv sets BenchmarkUserVsPasst's runs: five of 5 s per path in full mode (the bench
// issue's measure), two of 3 s with -quick.
func userPasstEnv(quick bool) []string {
	if quick {
		return []string{"UNIKIT_WRK_SECONDS=3", "UNIKIT_ROUNDS=2"}
	}
	return []string{"UNIKIT_WRK_SECONDS=5", "UNIKIT_ROUNDS=5"}
}

// netgridEnv sets BenchmarkNetMatrix's runs for netgrid: in full mode 3 s per measurement
// (the judged pair 10 s at 500 connections, every server 10 s at 1 MiB × 500), with -net user
// and vhost-user in the first of the three rounds only (UNIKIT_SIDE_ROUNDS); with -quick one
// round of 1 s.
func netgridEnv(quick bool) []string {
	if quick {
		return []string{"UNIKIT_WRK_SECONDS=1"}
	}
	return []string{"UNIKIT_WRK_SECONDS=3", "UNIKIT_SIDE_ROUNDS=1"}
}

// netmatrixPins is how BenchmarkNetMatrix places its processes.
const netmatrixPins = "under each pinning in turn: split, wrk on CPU 0 and each server on CPU 1; shared, both on CPUs 0-1 (taskset inside the benchmark); vhost-user under either: the blog and wrk on CPU 0, testpmd forwarding on CPU 1"

// netmatrixFair quotes BenchmarkNetMatrix from the pinning under which nginx over veth, the
// kernel anchor, serves the quoted point (4 KiB × 50) fastest.
var netmatrixFair = &fairBy{bench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", unit: "nginx-veth-req/s", label: "nginx over veth, 4 KiB × 50"}

// netgridFair quotes each point of BenchmarkNetMatrix's whole matrix from the pinning under
// which nginx over veth serves that point fastest.
var netgridFair = &fairBy{bench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", unit: "nginx-veth-req/s", label: "nginx over veth, at each point", perPoint: true}

var figures = []figure{
	{run: "pipe", name: "stack ↔ stack over the pipe link, TSO/GRO", bench: "BenchmarkStackToStack/tso", unit: "Gbit/s",
		target: atLeast(5, false, "≥ 5 Gbit/s")},
	{run: "pipe", name: "stack ↔ stack over the pipe link, MTU 1500", bench: "BenchmarkStackToStack/mtu1500", unit: "Gbit/s"},
	{run: "tapbulk", name: "bulk TCP stack → Linux over TAP", bench: "BenchmarkTAPBulk/offload/stack-to-kernel", unit: "Gbit/s",
		anchor: "kernel ↔ kernel over veth (iperf3)", aRun: "iperf3", aBench: "BenchmarkVethBulk/iperf3", aUnit: "Gbit/s",
		target: atLeast(0.5, true, "≥ 0.5× veth")},
	{run: "tapbulk", name: "  CPU per GB, whole machine, same", bench: "BenchmarkTAPBulk/offload/stack-to-kernel", unit: "machine-cpu-s/GB", show: "CPU s/GB",
		anchor: "iperf3 over veth, whole machine", aRun: "iperf3", aBench: "BenchmarkVethBulk/iperf3", aUnit: "machine-cpu-s/GB"},
	{run: "tapbulk", name: "  CPU per GB, the stack's process, same", bench: "BenchmarkTAPBulk/offload/stack-to-kernel", unit: "proc-cpu-s/GB", show: "CPU s/GB",
		anchor: "iperf3's sender", aRun: "iperf3", aBench: "BenchmarkVethBulk/iperf3", aUnit: "sender-cpu-s/GB",
		note: "The stack's process holds both endpoints: the stack with its TAP link, and the Go sink on the kernel socket; the whole machine's figure adds the kernel's softirq work for the TAP device. iperf3's sender and receiver figures are its own per-process counts."},
	{run: "tapbulk", name: "bulk TCP Linux → stack over TAP", bench: "BenchmarkTAPBulk/offload/kernel-to-stack", unit: "Gbit/s",
		anchor: "kernel ↔ kernel over veth (iperf3)", aRun: "iperf3", aBench: "BenchmarkVethBulk/iperf3", aUnit: "Gbit/s",
		target: atLeast(0.5, true, "≥ 0.5× veth")},
	{run: "tapbulk", name: "  CPU per GB, whole machine, same", bench: "BenchmarkTAPBulk/offload/kernel-to-stack", unit: "machine-cpu-s/GB", show: "CPU s/GB",
		anchor: "iperf3 over veth, whole machine", aRun: "iperf3", aBench: "BenchmarkVethBulk/iperf3", aUnit: "machine-cpu-s/GB"},
	{run: "tapbulk", name: "  CPU per GB, the stack's process, same", bench: "BenchmarkTAPBulk/offload/kernel-to-stack", unit: "proc-cpu-s/GB", show: "CPU s/GB",
		anchor: "iperf3's receiver", aRun: "iperf3", aBench: "BenchmarkVethBulk/iperf3", aUnit: "receiver-cpu-s/GB"},
	{run: "iperf3", name: "kernel ↔ kernel over veth, iperf3 (anchor)", bench: "BenchmarkVethBulk/iperf3", unit: "Gbit/s"},
	{run: "vethbulk", name: "kernel ↔ kernel over veth, Go endpoints", bench: "BenchmarkVethBulk/go", unit: "Gbit/s",
		anchor: "iperf3, same veth", aRun: "iperf3", aBench: "BenchmarkVethBulk/iperf3", aUnit: "Gbit/s"},
	{run: "http4k", name: "4 KiB HTTP over TAP (net/http on the stack), wrk -t2, 50 conns", bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "tap-stack-req/s", show: "req/s", short: "4 KiB HTTP over TAP vs kernel sockets over veth",
		anchor: "kernel sockets over veth", aBench: "BenchmarkHTTP4K/" + pinPlaceholder, aUnit: "veth-kernel-req/s",
		target: atLeast(0.7, true, "≥ 0.7× veth-kernel"),
		note:   "All three servers run in the test process, measured in turn (tap-stack, veth-kernel, tap-stack-httpserve) in each of the three rounds, each for 10 s after a second of warm-up; machine CPU is every CPU's busy time in /proc/stat over the measurement (wrk and the kernel included) over the requests served. The figures are from the pinning the Pinnings section names."},
	{run: "http4k", name: "  machine CPU per request, same", bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "tap-stack-machine-cpu-µs/req", show: "µs",
		anchor: "kernel sockets over veth", aBench: "BenchmarkHTTP4K/" + pinPlaceholder, aUnit: "veth-kernel-machine-cpu-µs/req"},
	{run: "http4k", name: "  p99 latency, same", bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "tap-stack-p99-ms", show: "ms",
		anchor: "kernel sockets over veth", aBench: "BenchmarkHTTP4K/" + pinPlaceholder, aUnit: "veth-kernel-p99-ms"},
	{run: "http4k", name: "4 KiB HTTP over TAP (httpserve on the stack), wrk -t2, 50 conns", bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "tap-stack-httpserve-req/s", show: "req/s", short: "httpserve 4 KiB over TAP vs kernel sockets over veth",
		anchor: "kernel sockets over veth (net/http)", aBench: "BenchmarkHTTP4K/" + pinPlaceholder, aUnit: "veth-kernel-req/s"},
	{run: "http4k", name: "  same, against net/http on the stack over TAP", bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "tap-stack-httpserve-req/s", show: "req/s", short: "httpserve vs net/http, both on the stack over TAP",
		anchor: "net/http on the stack over TAP", aBench: "BenchmarkHTTP4K/" + pinPlaceholder, aUnit: "tap-stack-req/s"},
	{run: "http4k", name: "  machine CPU per request, same", bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "tap-stack-httpserve-machine-cpu-µs/req", show: "µs",
		anchor: "kernel sockets over veth (net/http)", aBench: "BenchmarkHTTP4K/" + pinPlaceholder, aUnit: "veth-kernel-machine-cpu-µs/req"},
	{run: "http4k", name: "  p99 latency, same", bench: "BenchmarkHTTP4K/" + pinPlaceholder, unit: "tap-stack-httpserve-p99-ms", show: "ms",
		anchor: "kernel sockets over veth (net/http)", aBench: "BenchmarkHTTP4K/" + pinPlaceholder, aUnit: "veth-kernel-p99-ms"},
	{run: "wrkmatrix", name: "httpserve 4 KiB, kernel loopback, wrk 50 conns, one core", bench: "BenchmarkWrkMatrix/4KiB/c50", unit: "httpserve-req/s", show: "req/s", short: "httpserve 4 KiB req/s vs nginx",
		anchor: "nginx (1 worker, sendfile, open_file_cache, tcp_nodelay, no tcp_nopush)", aBench: "BenchmarkWrkMatrix/4KiB/c50", aUnit: "nginx-req/s",
		target: atLeast(1, true, "≥ 1.0× nginx")},
	{run: "wrkmatrix", name: "httpserve server CPU per request", bench: "BenchmarkWrkMatrix/4KiB/c50", unit: "httpserve-cpu-µs/req", show: "µs", short: "httpserve CPU per request vs nginx",
		anchor: "nginx", aBench: "BenchmarkWrkMatrix/4KiB/c50", aUnit: "nginx-cpu-µs/req",
		target: atMost(0.85, true, "≤ 0.85× nginx")},
	{run: "wrkmatrix", name: "Go http.FileServer, same", bench: "BenchmarkWrkMatrix/4KiB/c50", unit: "fileserver-req/s", show: "req/s",
		anchor: "nginx", aBench: "BenchmarkWrkMatrix/4KiB/c50", aUnit: "nginx-req/s"},
	{run: "h2load", name: "httpserve 4 KiB over HTTP/2 (h2c), kernel loopback, h2load 50 conns × 10 streams", bench: "BenchmarkH2Load", unit: "httpserve-req/s", show: "req/s",
		anchor: "nginx, same (http2)", aBench: "BenchmarkH2Load", aUnit: "nginx-req/s",
		note: "httpserve answers HTTP/2 through golang.org/x/net/http2's server and its Handler, not through the prepared-response fast path its HTTP/1.1 connections take."},
	{run: "h2load", name: "  server CPU per request, same", bench: "BenchmarkH2Load", unit: "httpserve-cpu-µs/req", show: "µs",
		anchor: "nginx", aBench: "BenchmarkH2Load", aUnit: "nginx-cpu-µs/req"},
	{run: "h2load", name: "  mean time per request, same", bench: "BenchmarkH2Load", unit: "httpserve-mean-ms", show: "ms",
		anchor: "nginx", aBench: "BenchmarkH2Load", aUnit: "nginx-mean-ms"},
	{run: "netmatrix", name: "httpserve 4 KiB through the blog's stack and -net user, wrk -t2, 50 conns", bench: "BenchmarkNetMatrix/split/4KiB/c50", unit: "user-req/s", show: "req/s",
		anchor: "nginx, kernel loopback", aRun: "wrkmatrix", aBench: "BenchmarkWrkMatrix/4KiB/c50", aUnit: "nginx-req/s",
		note: "Pinned as its anchor is: the blog on CPU 1, wrk on CPU 0 (split); nginx on loopback is measured with one wrk thread."},
	{run: "netmatrix", name: "httpserve 4 KiB through the blog's stack over TAP, wrk -t2, 50 conns", bench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", unit: "tap-req/s", show: "req/s",
		anchor: "nginx over veth", aBench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", aUnit: "nginx-veth-req/s",
		note: "The four servers are measured in turn (user, tap, vhost-user, nginx-veth) in each of three rounds, 10 s each after a second of warm-up, under both pinnings; the figures are from the pinning under which nginx over veth is strongest (see Pinnings). Machine CPU counts every CPU, so for vhost-user it includes testpmd's forwarding core, which busy-polls whether or not frames arrive. The full matrix of these servers, with server CPU per request, latency and memory, is under Static HTTP matrix below."},
	{run: "netmatrix", name: "  machine CPU per request, same", bench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", unit: "tap-machine-cpu-µs/req", show: "µs",
		anchor: "nginx over veth", aBench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", aUnit: "nginx-veth-machine-cpu-µs/req"},
	{run: "netmatrix", name: "httpserve 4 KiB through the blog's stack over vhost-user + testpmd, wrk -t2, 50 conns", bench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", unit: "vhost-user-req/s", show: "req/s",
		anchor: "nginx over veth", aBench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", aUnit: "nginx-veth-req/s"},
	{run: "netmatrix", name: "  machine CPU per request, same", bench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", unit: "vhost-user-machine-cpu-µs/req", show: "µs",
		anchor: "nginx over veth", aBench: "BenchmarkNetMatrix/" + pinPlaceholder + "/4KiB/c50", aUnit: "nginx-veth-machine-cpu-µs/req"},
	{run: "tagblog", name: "tagblog rendered post page, kernel sockets, wrk 50 conns", bench: "BenchmarkWrkPostVsStatic", unit: "rendered-req/s", show: "req/s",
		anchor: "the same bytes as a static file from the blog", aBench: "BenchmarkWrkPostVsStatic", aUnit: "static-req/s",
		target: atLeast(0.9, true, "≥ 0.9× static"),
		note:   "The tagblog keeps each rendered page as a prepared response until its content changes; the two servers are measured in turn, each alone on CPU 1 with wrk on CPU 0."},
	{run: "tagstart", name: "tagblog start to first response, 10,000 posts", bench: "BenchmarkStartTenThousandPosts", unit: "ms-to-first-response", show: "ms",
		target: atMost(1000, false, "≤ 1 s")},
	{run: "tagstart", name: "  resident memory, same", bench: "BenchmarkStartTenThousandPosts", unit: "RSS-MiB", show: "MiB"},
	{run: "queue", name: "queue uploads of 1 KiB through the appliance's stack (-net user), bbolt", bench: "BenchmarkUpload/appliance/1KiB", unit: "uploads/s",
		anchor: "the same handler on net/http and kernel sockets", aBench: "BenchmarkUpload/net-http/1KiB", aUnit: "uploads/s", target: atLeast(0.9, true, "≥ 0.9× net/http"),
		note: "8 clients at once, an fsync'd bbolt transaction per upload (concurrent ones share an fsync); the appliance is reached through its user-mode network's port forward."},
	{run: "queue", name: "queue uploads of 5 MiB, same", bench: "BenchmarkUpload/appliance/5120KiB", unit: "MB/s",
		anchor: "the same handler on net/http and kernel sockets", aBench: "BenchmarkUpload/net-http/5120KiB", aUnit: "MB/s", target: atLeast(0.9, true, "≥ 0.9× net/http")},
	{run: "claims", name: "queue claim latency p50, 16 workers, bbolt", bench: "BenchmarkClaimLatency/bolt", unit: "p50-ms", show: "ms"},
	{run: "claims", name: "  p99, same", bench: "BenchmarkClaimLatency/bolt", unit: "p99-ms", show: "ms"},
	{run: "claims", name: "queue claim latency p50, 16 workers, etcd (one member, loopback)", bench: "BenchmarkClaimLatency/etcd", unit: "p50-ms", show: "ms"},
	{run: "claims", name: "  p99, same", bench: "BenchmarkClaimLatency/etcd", unit: "p99-ms", show: "ms"},
	{run: "observe", name: "requests/s with the debug listener on, /metrics scraped every second", bench: "BenchmarkRequests/debug=on", unit: "req/s",
		anchor: "the debug listener off", aBench: "BenchmarkRequests/debug=off", aUnit: "req/s", target: atLeast(0.95, true, "≥ 0.95× off"),
		note: "Two stacks in one process over the pipe link, a page from httpserve, keep-alive connections; off, on and on with the flight recorder measured in turn in each of three rounds."},
	{run: "observe", name: "  same, with the flight recorder (-debug-flightrecorder)", bench: "BenchmarkRequests/debug=on+flightrecorder", unit: "req/s",
		anchor: "the debug listener off", aBench: "BenchmarkRequests/debug=off", aUnit: "req/s"},
	{run: "cached", name: "httpserve cached GET over loopback (client included)", bench: "BenchmarkServeCached", unit: "ns/op", scale: 1e-3, show: "µs/op"},
	{run: "cached", name: "  allocations per cached GET", bench: "BenchmarkServeCached", unit: "allocs/op",
		target: atMost(0, false, "0 allocs")},
	{run: "start", name: "blog start to first response, 1,000 files, directory", bench: "BenchmarkStartToFirstResponse/site-dir", unit: "ms-to-first-response", show: "ms",
		target: atMost(100, false, "≤ 100 ms")},
	{run: "start", name: "blog start to first response, content image", bench: "BenchmarkStartToFirstResponse/image", unit: "ms-to-first-response", show: "ms",
		target: atMost(100, false, "≤ 100 ms")},
	{run: "rss", name: "blog resident memory serving a 64 MiB site", bench: "BenchmarkResidentMemory", unit: "RSS-MiB", show: "MiB",
		target: atMost(126, false, "≤ 1.5×64+30 = 126 MiB")},
	{run: "idle", name: "idle keep-alive connection, blog through -net user: its side's resident + kernel memory", bench: "BenchmarkIdleConnections", unit: "user-fair-B/conn", scale: 1e-3, show: "KB",
		short:  "idle keep-alive connection's memory vs nginx, -net user",
		anchor: "nginx on kernel sockets on loopback, same client", aBench: "BenchmarkIdleConnections", aUnit: "nginx-fair-B/conn",
		target: atMost(2, true, "≤ 2× nginx"),
		note:   "Per idle connection (UNIKIT_IDLE_CONNS=5000, each after one 4 KiB request, held 10 s), what the server's side costs: its process's resident memory, the kernel memory charged to its sockets' queues (ss -tm) and the slab memory of its kernel sockets (struct tcp_sock, inode, file, epoll item: /proc/slabinfo's delta per socket × its sockets, one per connection for nginx and for -net user's gateway, none over TAP). raw.txt also has the resident memory alone, both ends' socket memory and /proc/net/sockstat's whole-machine delta. The heap and stack rows are the blog's after a forced collection."},
	{run: "idle", name: "  Go heap, live, same", bench: "BenchmarkIdleConnections", unit: "user-heap-B/conn", scale: 1e-3, show: "KB"},
	{run: "idle", name: "  goroutine stacks, same", bench: "BenchmarkIdleConnections", unit: "user-stacks-B/conn", scale: 1e-3, show: "KB"},
	{run: "idle", name: "idle keep-alive connection, blog over TAP: its side's resident + kernel memory", bench: "BenchmarkIdleConnections", unit: "tap-fair-B/conn", scale: 1e-3, show: "KB",
		short:  "idle keep-alive connection's memory vs nginx, TAP",
		anchor: "nginx across veth, same client", aBench: "BenchmarkIdleConnections", aUnit: "nginx-veth-fair-B/conn",
		target: atMost(2, true, "≤ 2× nginx")},
	{run: "idle", name: "  Go heap, live, same", bench: "BenchmarkIdleConnections", unit: "tap-heap-B/conn", scale: 1e-3, show: "KB"},
	{run: "idle", name: "  kernel slab per TCP socket (struct tcp_sock, inode, file, epoll item)", bench: "BenchmarkIdleConnections", unit: "nginx-veth-slab-B/socket", scale: 1e-3, show: "KB"},
	{run: "loadedmem", name: "blog peak resident memory, 500 × 1 MiB through -net user", bench: "BenchmarkLoadedMemory", unit: "user-peak-RSS-MiB", show: "MiB",
		note: "The stacks' TCP buffer budgets bound 500 connections' buffers: 64 KiB of send buffer each on the blog's stack, and through -net user 64 KiB of receive buffer and a 32 KiB relay buffer each on the user-mode network's side, 31 MiB over TAP and 78 MiB through -net user once all are open, at most 63 and 115 MiB while they open (BenchmarkLoadedMemory's comment). The heap's peak adds the garbage between collections."},
	{run: "loadedmem", name: "  peak Go heap objects, same", bench: "BenchmarkLoadedMemory", unit: "user-peak-heap-MiB", show: "MiB"},
	{run: "loadedmem", name: "blog peak resident memory, 500 × 1 MiB over TAP", bench: "BenchmarkLoadedMemory", unit: "tap-peak-RSS-MiB", show: "MiB"},
	{run: "loadedmem", name: "  peak Go heap objects, same", bench: "BenchmarkLoadedMemory", unit: "tap-peak-heap-MiB", show: "MiB"},
	{run: "size", name: "blog binary size (go build)", bench: "BinarySize/default", unit: "MiB"},
	{run: "size", name: "blog binary size, stripped (-ldflags=-s -w)", bench: "BinarySize/stripped", unit: "MiB"},
	{run: "userpasst", name: "1 MiB × 500 through -net user, median of five 5 s runs", bench: "BenchmarkUserVsPasst", unit: "user-req/s", show: "req/s",
		short:  "-net user vs passt, 1 MiB × 500",
		anchor: "the blog behind passt (-net socket:), same rounds", aBench: "BenchmarkUserVsPasst", aUnit: "passt-req/s",
		target: atLeast(2, true, "≥ 2× passt"),
		note:   "Each round measures a fresh blog through -net user, then a fresh blog attached with -net socket: to a fresh passt forwarding 127.0.0.1 to it; wrk (two threads, 500 connections) on CPU 0, the servers on CPU 1, all in a namespace of the benchmark's own. The spread is (slowest − fastest) / slowest over the rounds."},
	{run: "userpasst", name: "  spread of the -net user runs", bench: "BenchmarkUserVsPasst", unit: "user-spread-%", show: "%",
		anchor: "passt's", aBench: "BenchmarkUserVsPasst", aUnit: "passt-spread-%", target: atMost(20, false, "≤ 20%")},
	{run: "userpasst", name: "  spread of the MiB/s wrk read, same runs", bench: "BenchmarkUserVsPasst", unit: "user-MiB/s-spread-%", show: "%",
		anchor: "passt's", aBench: "BenchmarkUserVsPasst", aUnit: "passt-MiB/s-spread-%"},
	{run: "userpasst", name: "  server CPU per request, same", bench: "BenchmarkUserVsPasst", unit: "user-cpu-µs/req", show: "µs/req",
		anchor: "the blog's and passt's", aBench: "BenchmarkUserVsPasst", aUnit: "passt-cpu-µs/req"},
	{run: "userbulk", name: "bulk TCP through -net user (anchor)", bench: "BenchmarkUserBulk/user", unit: "MB/s"},
	{run: "userbulk", name: "bulk TCP through -net user,nic=virtio", bench: "BenchmarkUserBulk/user,nic=virtio", unit: "MB/s",
		anchor: "-net user", aBench: "BenchmarkUserBulk/user", aUnit: "MB/s", target: atLeast(0.5, true, "≥ 0.5× user")},
	{run: "userbulk", name: "bulk TCP through -net user,nic=xen", bench: "BenchmarkUserBulk/user,nic=xen", unit: "MB/s",
		anchor: "-net user", aBench: "BenchmarkUserBulk/user", aUnit: "MB/s", target: atLeast(0.5, true, "≥ 0.5× user")},
	{run: "virtio", name: "virtio tx, 60 B frames through the device model", bench: "BenchmarkNetTx/split", unit: "frames/s", scale: 1e-6, show: "M frames/s"},
	{run: "virtio", name: "virtio rx, same", bench: "BenchmarkNetRx/split", unit: "frames/s", scale: 1e-6, show: "M frames/s"},
	{run: "virtio", name: "  heap allocations per virtio tx frame (exact count)", bench: "BenchmarkNetTx/split", unit: "mallocs/frame", target: atMost(0.001, false, "≤ 1 in 1,000 frames")},
	{run: "virtio", name: "  heap allocations per virtio rx frame (exact count)", bench: "BenchmarkNetRx/split", unit: "mallocs/frame", target: atMost(0.001, false, "≤ 1 in 1,000 frames")},
	{run: "xen", name: "xenfront tx, 64 B frames through the simulated netback", bench: "BenchmarkTransmit/64B", unit: "frames/s", scale: 1e-6, show: "M frames/s"},
	{run: "xen", name: "xenfront rx, same", bench: "BenchmarkReceive/64B", unit: "frames/s", scale: 1e-6, show: "M frames/s"},
	{run: "xen", name: "  heap allocations per xenfront tx frame (exact count)", bench: "BenchmarkTransmit/64B", unit: "mallocs/frame", target: atMost(0.001, false, "≤ 1 in 1,000 frames")},
	{run: "xen", name: "  heap allocations per xenfront rx frame (exact count)", bench: "BenchmarkReceive/64B", unit: "mallocs/frame", target: atMost(0.001, false, "≤ 1 in 1,000 frames")},
	{run: "stream", name: "heap allocations per MiB of a TCP stream, stack ↔ stack over the pipe link, TSO/GRO", bench: "BenchmarkStreamPipe/tso", unit: "mallocs/MiB",
		note: "Exact counts (runtime.MemStats.Mallocs) of the whole process per MiB moved in steady state, both stacks, the link and the connection's Write and Read, with the garbage collector running as in production (each collection empties gVisor's buffer pools, whose refills count); frames/MiB in raw.txt."},
	{run: "stream", name: "  same, MTU 1500", bench: "BenchmarkStreamPipe/mtu1500", unit: "mallocs/MiB"},
	{run: "stream", name: "heap allocations per MiB, the stack sending to Linux over TAP", bench: "BenchmarkStreamTAP/offload/stack-sends", unit: "mallocs/MiB"},
	{run: "stream", name: "heap allocations per MiB, the stack receiving from Linux over TAP", bench: "BenchmarkStreamTAP/offload/stack-receives", unit: "mallocs/MiB"},
	{run: "socket", name: "socket link, UNIX socket, 1514 B frames", bench: "BenchmarkThroughput/1514B", unit: "frames/s", scale: 1e-6, show: "M frames/s"},
	{run: "vhost", name: "virtio driver → DPDK vhost-user backend (testpmd macswap), 64 B frames", bench: "BenchmarkVhostUserMacswap/packed", unit: "backend-rx-frames/s", scale: 1e-6, show: "M frames/s",
		short:  "virtio driver pps vs DPDK virtio-user, same backend",
		anchor: "DPDK virtio-user txonly, same backend", aRun: "dpdk", aBench: "BenchmarkDPDKVirtioUserTxonly", aUnit: "backend-rx-frames/s",
		target: atLeast(0.5, true, "≥ 0.5× DPDK"),
		note:   "Both drivers transmit from CPU 0 to a testpmd backend forwarding on CPU 1, and the figure is what the backend counted. DPDK's driver negotiates split rings with IN_ORDER, ours packed rings. Our driver also receives the echoes macswap sends back; DPDK's txonly leaves them."},
	{run: "vhost", name: "  allocations per virtio tx batch, same", bench: "BenchmarkVhostUserMacswap/packed", unit: "allocs/op", target: atMost(0, false, "0 allocs")},
	{run: "vhost", name: "virtio driver ← DPDK vhost-user backend (testpmd txonly), 64 B frames", bench: "BenchmarkVhostUserRx/packed", unit: "rx-frames/s", scale: 1e-6, show: "M frames/s"},
	{run: "vhostbulk", name: "bulk TCP stack ↔ stack through vhost-user + testpmd, TSO", bench: "BenchmarkVhostUserBulk/tso", unit: "Gbit/s",
		short:  "bulk TCP through vhost-user (TSO) vs the TAP link",
		anchor: "stack → Linux over TAP", aRun: "tapbulk", aBench: "BenchmarkTAPBulk/offload/stack-to-kernel", aUnit: "Gbit/s",
		target: atLeast(0.5, true, "≥ 0.5× TAP"),
		note:   "Two stacks, each behind its own virtio driver, share CPU 0; testpmd switches between its two vhost-user ports on CPU 1 and copies each 64 KiB segment twice. The TAP anchor is one stack sending to the kernel on both cores."},
	{run: "vhostbulk", name: "bulk TCP stack ↔ stack through vhost-user + testpmd, MTU 1500", bench: "BenchmarkVhostUserBulk/mtu1500", unit: "Gbit/s"},
	{run: "vm", name: "blog VM, QEMU start to first 200, our virtio-pci driver and stack", bench: "BenchmarkVM/boot/ours", unit: "ms-to-200", show: "ms",
		short:  "VM boot to first 200, ours vs Linux's virtio_net",
		anchor: "Linux's virtio_net and sockets in the same VM (-net kernel)", aBench: "BenchmarkVM/boot/kernel", aUnit: "ms-to-200",
		target: atMost(1, true, "≤ 1.0× kernel"),
		note:   "The VM rows run qemu-system-x86_64 under TCG (no KVM here): the emulator, not either NIC path, sets most of these figures. The host reaches the guest through QEMU's user-mode network (hostfwd), which offers no offloads."},
	{run: "vm", name: "4 KiB HTTP into the VM through hostfwd, wrk 50 conns, ours", bench: "BenchmarkVM/http4k/ours", unit: "req/s",
		short:  "VM 4 KiB req/s, ours vs Linux's virtio_net",
		anchor: "-net kernel", aBench: "BenchmarkVM/http4k/kernel", aUnit: "req/s",
		target: atLeast(1, true, "≥ 1.0× kernel")},
	{run: "vm", name: "  p99 latency, same", bench: "BenchmarkVM/http4k/ours", unit: "p99-ms", show: "ms",
		anchor: "-net kernel", aBench: "BenchmarkVM/http4k/kernel", aUnit: "p99-ms"},
	{run: "vm", name: "bulk TCP guest → host through hostfwd, ours", bench: "BenchmarkVM/bulk/ours", unit: "guest-to-host-MB/s", show: "MB/s",
		anchor: "-net kernel", aBench: "BenchmarkVM/bulk/kernel", aUnit: "guest-to-host-MB/s",
		target: atLeast(1, true, "≥ 1.0× kernel")},
	{run: "vm", name: "bulk TCP host → guest through hostfwd, ours", bench: "BenchmarkVM/bulk/ours", unit: "host-to-guest-MB/s", show: "MB/s",
		anchor: "-net kernel", aBench: "BenchmarkVM/bulk/kernel", aUnit: "host-to-guest-MB/s",
		target: atLeast(1, true, "≥ 1.0× kernel")},
	{run: "vm", name: "smallest -m that serves the blog, ours", bench: "BenchmarkVM/memory/ours", unit: "min-MiB", show: "MiB",
		anchor: "-net kernel", aBench: "BenchmarkVM/memory/kernel", aUnit: "min-MiB",
		note: "Tried from 512 MiB down: 512, 256, 192, 128, 96, 64. At 96 MiB Debian's 6.1 kernel ran out of memory unpacking the initramfs, before the appliance started, on either path."},
	{run: "vm", name: "blog initrd.img", bench: "BenchmarkVM/size/ours", unit: "initrd-MiB", show: "MiB",
		anchor: "the -net kernel image (adds virtio_pci, virtio_net)", aBench: "BenchmarkVM/size/kernel", aUnit: "initrd-MiB"},
	{run: "vm", name: "blog disk.img (GPT, ESP with the unified kernel image)", bench: "BenchmarkVM/size/ours", unit: "disk-MiB", show: "MiB"},
	{run: "xenbulk", name: "bulk TCP domU → dom0 through our netfront and stack, Xen 4.17 arm64 under TCG", bench: "BenchmarkXenBulk", unit: "unikit-down-Mbit/s", show: "Mbit/s",
		anchor: "Linux's xen-netfront and kernel stack, same boot", aBench: "BenchmarkXenBulk", aUnit: "linux-down-Mbit/s",
		note: "16 MiB each way between the domU and a Go client in dom0, across dom0's real xen-netback and a bridge, SHA-256 checked; then the same through Linux's own netfront on the same vif. TCG emulates every instruction of Xen, dom0 and the domU, so both front ends are far slower than on hardware; only their ratio within a boot means anything."},
	{run: "xenbulk", name: "  dom0 → domU, same", bench: "BenchmarkXenBulk", unit: "unikit-up-Mbit/s", show: "Mbit/s",
		anchor: "Linux's, same boot", aBench: "BenchmarkXenBulk", aUnit: "linux-up-Mbit/s"},
}

// blogSize builds examples/blog as it ships and stripped, and reports both sizes in MiB.
func blogSize(root string) ([]gobench.Result, error) {
	dir, err := os.MkdirTemp("", "unikit-bench-size")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var rs []gobench.Result
	for _, v := range []struct{ name, ldflags string }{{"default", ""}, {"stripped", "-s -w"}} {
		bin := filepath.Join(dir, "blog-"+v.name)
		args := []string{"build", "-o", bin}
		if v.ldflags != "" {
			args = append(args, "-ldflags="+v.ldflags)
		}
		cmd := exec.Command("go", append(args, "./examples/blog")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return rs, fmt.Errorf("go %v: %v\n%s", args, err, out)
		}
		st, err := os.Stat(bin)
		if err != nil {
			return rs, err
		}
		rs = append(rs, gobench.Result{Name: "BinarySize/" + v.name, Iterations: 1,
			Metrics: map[string]float64{"MiB": float64(st.Size()) / (1 << 20), "bytes": float64(st.Size())}})
	}
	return rs, nil
}
