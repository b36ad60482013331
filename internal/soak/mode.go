//go:build linux

package soak

import (
	"os"
	"time"
)

// ModeEnv names the environment variable that runs the soak: UNIKIT_SOAK=short for the short
// version (a step of CI's own), =full (which `go run ./bench -soak` sets) for the full one.
// Without it examples/blog's TestSoak skips, so that go test ./... stays quick.
const ModeEnv = "UNIKIT_SOAK"

// OutEnv names the environment variable holding the path the soak test writes its report to
// (JSON), if set.
const OutEnv = "UNIKIT_SOAK_OUT"

// Mode is how long and how hard the scenarios run.
type Mode struct {
	Name string `json:"name"` // "short" or "full"

	// The mixed load: wrk with MixedConns connections for MixedFor, sampled every
	// MixedEvery, judged after MixedWarmUp.
	MixedFor    time.Duration `json:"mixed_for"`
	MixedEvery  time.Duration `json:"mixed_every"`
	MixedWarmUp time.Duration `json:"mixed_warm_up"`
	MixedConns  int           `json:"mixed_conns"`

	// ReloadFor is how long the site changes and SIGHUP comes every second, under load.
	ReloadFor time.Duration `json:"reload_for"`

	// SlowReaders read the 8 MiB file at 1 KiB/s for SlowHold; the normal client's latency
	// is measured normalRuns times for NormalFor without them and again with them.
	SlowReaders int           `json:"slow_readers"`
	SlowHold    time.Duration `json:"slow_hold"`
	NormalFor   time.Duration `json:"normal_for"`

	// Idle is the number of idle keep-alive connections.
	Idle int `json:"idle"`
	// Resets is the number of clients that reset their connection mid-download.
	Resets int `json:"resets"`
}

// Short is the version CI runs, in a step of its own.
var Short = Mode{Name: "short",
	MixedFor: 20 * time.Second, MixedEvery: 2 * time.Second, MixedWarmUp: 6 * time.Second, MixedConns: 100,
	ReloadFor:   5 * time.Second,
	SlowReaders: 200, SlowHold: 10 * time.Second, NormalFor: time.Second,
	Idle: 1000, Resets: 500}

// Full is the version `go run ./bench -soak` runs.
var Full = Mode{Name: "full",
	MixedFor: 10 * time.Minute, MixedEvery: 10 * time.Second, MixedWarmUp: time.Minute, MixedConns: 100,
	ReloadFor:   30 * time.Second,
	SlowReaders: 200, SlowHold: 90 * time.Second, NormalFor: 10 * time.Second,
	Idle: 5000, Resets: 500}

// ModeFromEnv returns Full if UNIKIT_SOAK=full, else Short.
func ModeFromEnv() Mode {
	if os.Getenv(ModeEnv) == "full" {
		return Full
	}
	return Short
}
