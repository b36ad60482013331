// Package soak runs an appliance for a long life in a short time: the soak and abuse
// scenarios of the blog appliance's soak test, each against a fresh appliance process serving
// a site of 1 KiB, 64 KiB, 1 MiB and 8 MiB files, with its debug listener on so that its
// goroutines and memory can be sampled from outside:
//
//   - [Mixed]: wrk's mixed load over 100 connections; no failed request, resident memory
//     and goroutines flat after the warm-up ([Flatness] states the criterion), and back to the
//     baseline once the load has gone;
//   - [Reload]: a new version of the site and a SIGHUP every second under load; no failed
//     request and no response mixing two versions (entity tag against body, body against
//     the versions written);
//   - [Slow]: slow readers of the 8 MiB file at 1 KiB/s; the memory they add, a normal
//     client's p99 latency among them, and memory returning when they leave;
//   - [Idle]: idle keep-alive connections; the memory each costs, and requests still served;
//   - [Resets]: clients that reset mid-download; nothing leaks;
//   - [RunBad]: a start-up with something wrong ends at once with a clear message.
//
// [Mode] says how long each runs: [Short] in CI, [Full] for `go run ./bench -soak`, which
// sets UNIKIT_SOAK=full and reads the [Report] the test writes to UNIKIT_SOAK_OUT. The
// scenarios need Linux (procfs, network namespaces for TAP) and wrk.
package soak
