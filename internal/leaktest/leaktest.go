// Package leaktest checks that tests leave no goroutines behind: every type that starts
// goroutines ends them in Close, and tests prove it by counting.
package leaktest

import (
	"runtime"
	"testing"
	"time"
)

// settleTime is how long goroutines get to finish after a Close before the check fails.
const settleTime = 10 * time.Second

// Settle waits until no more than want goroutines run, and fails t with every goroutine's stack
// if that does not happen within ten seconds. Take want from runtime.NumGoroutine before the
// code under test starts.
func Settle(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(settleTime)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines leaked: %d running, want at most %d\n%s", runtime.NumGoroutine(), want, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
