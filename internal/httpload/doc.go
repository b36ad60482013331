// Package httpload measures an HTTP server the way the benchmarks compare servers: wrk loads
// it (pinned as a Pinning says, inside a network namespace if need be), and the CPU time of
// the server's processes and of the whole machine (/proc/PID/stat and /proc/stat) and the
// server's peak resident memory are read around the run; Round measures a comparison's
// servers in turn so that repetitions interleave them. It also starts the anchor every
// static-HTTP comparison shares, nginx tuned for static files.
//
// It is for benchmarks only: every function takes a testing.TB and fails it on error, and
// skips it (or fails it under UNIKIT_PEERS=require) when wrk, nginx or taskset is missing.
package httpload
