// Package httpload measures an HTTP server process the way the benchmarks compare servers:
// wrk loads it (pinned to a core, inside a network namespace if need be), and the server's
// CPU time and peak resident memory are read from /proc around the run. It also starts the
// anchor every static-HTTP comparison shares, nginx tuned for static files.
//
// It is for benchmarks only: every function takes a testing.TB and fails it on error, and
// skips it (or fails it under UNIKIT_PEERS=require) when wrk, nginx or taskset is missing.
package httpload
