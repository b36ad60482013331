//go:build linux

package soak

import (
	"testing"
	"time"
)

// returnSlack is how far above its baseline resident memory may stay after a scenario that
// made conns connections.
func returnSlack(conns int) int64 { return ReturnSlack + int64(conns)*ReturnPerConn }

// awaitReturn waits up to ReturnWait for the appliance's resident memory to come back within
// returnSlack(conns) of base and its goroutines within GoroutineSlack, and returns the resident
// memory then and how long it took (ReturnWait if it did not).
func awaitReturn(t *testing.T, a *Appliance, base Sample, conns int) (int64, float64) {
	t.Helper()
	start := time.Now()
	for {
		now := a.Now(t)
		if now.RSS <= base.RSS+returnSlack(conns) && now.Goroutines <= base.Goroutines+GoroutineSlack {
			return now.RSS, time.Since(start).Seconds()
		}
		if time.Since(start) >= ReturnWait {
			return now.RSS, ReturnWait.Seconds()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// awaitSettled waits up to ReturnWait for the appliance to settle after a scenario whose
// clients, conns connections, have all left: the stack's connections back to none, goroutines
// within settledGoroutines of base and resident memory within returnSlack(conns) of it. It
// returns the sample that met all three, or the last one, and how long it waited. A sample
// taken while the process catches up on a loaded machine (connections still closing, timers'
// goroutines not yet ended, a collection not yet run) does not decide: only what stays after
// the wait does.
func awaitSettled(t *testing.T, a *Appliance, base Sample, conns int) (Sample, float64) {
	t.Helper()
	start := time.Now()
	for {
		now := a.Now(t)
		if settled(now, base, conns) || time.Since(start) >= ReturnWait {
			return now, time.Since(start).Seconds()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// settledGoroutines is how many goroutines above its baseline a settled appliance may run.
const settledGoroutines = GoroutineSlack / 2

// settled reports whether now is back to base after conns connections came and went.
func settled(now, base Sample, conns int) bool {
	return now.Conns == 0 && now.Goroutines <= base.Goroutines+settledGoroutines && now.RSS <= base.RSS+returnSlack(conns)
}
