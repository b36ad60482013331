// Command bench runs unikit's benchmarks side by side with their anchors (Linux over veth,
// nginx, -net user, DPDK) on this machine, pinned to cores and repeated, and writes the
// medians, spreads and ratios to bench/results/results.md and a chart of the ratios against
// their targets to bench/results/results.svg:
//
//	go run ./bench          # full mode, about 18 minutes on 2 cores
//	go run ./bench -quick   # under two minutes (80 s on 2 cores)
//
// results.md also holds the static HTTP matrix (4 KiB, 64 KiB and 1 MiB files over 1, 50 and
// 500 connections) as two tables: the servers wrk reaches on 127.0.0.1 (httpserve, Go's
// http.FileServer, the blog through -net user, nginx) and those it reaches across a virtual
// link from a namespace (the blog over TAP and over vhost-user, nginx over veth).
//
// It orchestrates the packages' own benchmarks (go test -bench) and parses their output; it
// checks for the programs they need and for root, and skips the rows that cannot run.
//
// bench is a module of its own (github.com/unikit/unikit/bench), so that its chart's plotting
// library and fonts stay out of the library's go.mod; it imports none of the library's
// packages, only runs their benchmarks. The go.work at the repository's root joins the two
// modules, so `go run ./bench` works from there; `go test ./... ./bench/...` tests both.
package main
