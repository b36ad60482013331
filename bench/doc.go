// Command bench runs unikit's benchmarks side by side with their anchors (Linux over veth,
// nginx, -net user, DPDK) on this machine, pinned to cores and repeated, and writes the
// medians, spreads and ratios to bench/results/results.md, with charts of the ratios against
// their targets (results.svg) and of the static HTTP matrix (results-matrix.svg):
//
//	go run ./bench          # full mode, about 30 minutes on 2 cores (the Runs table's "expected")
//	go run ./bench -quick   # about three minutes on 2 cores, into bench/results/quick
//	go run ./bench -render  # measure nothing: write the results again from run.json and raw.txt
//	go run ./bench -soak    # the soak and abuse suite instead, about 35 minutes: soak.md, soak.svg
//
// results.md opens with the run's provenance: the command, the date, the commit and any
// uncommitted changes, the machine, the kernel, Go and the versions of nginx, wrk, h2load,
// iperf3 and dpdk-testpmd. It also holds the static HTTP matrix (4 KiB, 64 KiB and 1 MiB files
// over 1, 50 and 500 connections) as two tables: the servers wrk reaches on 127.0.0.1
// (httpserve, Go's http.FileServer, the blog through -net user, nginx) and those it reaches
// across a virtual link from a namespace (the blog over TAP and over vhost-user, nginx over
// veth).
//
// Beside it, raw.txt keeps every run's output and run.json the run's record (provenance and
// how each run ended); the two are all that -render needs. A run into bench/results also
// writes the README's performance figures, between its bench:begin and bench:end markers, and
// the package's tests fail while those, or results.md, differ from what the committed record
// and raw output give.
//
// -soak runs examples/blog's TestSoak in its full version (UNIKIT_SOAK=full: 10 minutes of
// mixed load, reloads, slow readers, idle connections, resets and bad start-ups, over -net user
// and over TAP) and writes its figures to soak.md, its samples over time to soak.svg, its report
// and provenance to soak.json and the test's output to soak-raw.txt; -soak -render writes
// soak.md and soak.svg again from soak.json. The short version runs in CI as an ordinary test.
//
// The cross-link HTTP comparisons (HTTP4K: net/http and httpserve on the stack over TAP
// against net/http on kernel sockets over veth; NetMatrix: the blog over -net user, TAP and
// vhost-user against nginx over veth) run under two pinnings: split (wrk on CPU 0, each
// server on CPU 1) and shared (both free on CPUs 0-1), in either case with the veth's or the
// TAP device's receive work wherever the kernel puts it. wrk runs two threads; the servers are
// measured in turn, round by round, 10 s each; CPU per request is counted for the server's
// processes (/proc/PID/stat, testpmd's included for vhost-user) and for the whole machine
// (/proc/stat: user, nice, system, irq and softirq of every CPU). raw.txt keeps both
// pinnings; results.md and the README quote each comparison under the pinning in which its
// kernel anchor is strongest (the Pinnings section names it and the anchor's figure under
// each), so that no ratio rests on a handicapped anchor. Bulk TCP runs 10 s per repetition
// against iperf3 over veth, the primary anchor, with CPU seconds per GB for the whole machine
// and for each side.
//
// It orchestrates the packages' own benchmarks (go test -bench) and parses their output; it
// checks for the programs they need and for root, and skips the rows that cannot run.
//
// bench is a module of its own (github.com/unikit/unikit/bench), so that its chart's plotting
// library and fonts stay out of the library's go.mod; it imports none of the library's
// packages, only runs their benchmarks. The go.work at the repository's root joins the two
// modules, so `go run ./bench` works from there; `go test ./... ./bench/...` tests both.
package main
