// Command bench runs unikit's benchmarks side by side with their anchors (Linux over veth,
// nginx, -net user, DPDK) on this machine, pinned to cores and repeated, and writes the
// medians, spreads and ratios to bench/results/results.md and a chart of the ratios against
// their targets to bench/results/results.svg:
//
//	go run ./bench          # full mode, about 8 minutes on 2 cores
//	go run ./bench -quick   # under two minutes
//
// It orchestrates the packages' own benchmarks (go test -bench) and parses their output; it
// checks for the programs they need and for root, and skips the rows that cannot run.
package main
