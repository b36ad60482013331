//go:build linux

package soak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/peers"
)

// mixScript is the wrk script of the mixed load: each thread requests the site's files in a
// fixed round of 100 requests, 60 of 1 KiB, 30 of 64 KiB, 9 of 1 MiB and 1 of 8 MiB (the
// larger ones spread over the round), so that every connection meets every size. Mix says the
// same in Go.
const mixScript = `
local round = {}
for i = 1, 100 do
  if i == 100 then round[i] = "/8m.bin"
  elseif i % 11 == 0 then round[i] = "/1m.bin"
  elseif i % 3 == 0 then round[i] = "/64k.bin"
  else round[i] = "/1k.bin" end
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", round[(n - 1) % 100 + 1])
end
`

// Mix returns how many of mixScript's round of 100 requests ask for each path.
func Mix() map[string]int {
	m := map[string]int{}
	for i := 1; i <= 100; i++ {
		switch {
		case i == 100:
			m["/8m.bin"]++
		case i%11 == 0:
			m["/1m.bin"]++
		case i%3 == 0:
			m["/64k.bin"]++
		default:
			m["/1k.bin"]++
		}
	}
	return m
}

// wrkTimeout is wrk's per-request timeout: long enough for an 8 MiB response sharing the
// link with 99 others on a loaded machine, so that a timeout means a stuck request.
const wrkTimeout = 30 * time.Second

// Load is a wrk run in the background.
type Load struct {
	done chan struct{}
	res  httpload.Result
	out  string
	err  error
}

// StartLoad starts wrk with conns connections for d (whole seconds) against path, or the
// mixed round if path is "", from where the appliance's clients run.
func StartLoad(t testing.TB, a *Appliance, threads, conns int, d time.Duration, path string) *Load {
	t.Helper()
	wrk := peers.Program(t, "wrk", "wrk")
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(max(1, int(d/time.Second))) + "s", "--latency", "--timeout", wrkTimeout.String()}
	if path == "" {
		script := filepath.Join(t.TempDir(), "mix.lua")
		if err := os.WriteFile(script, []byte(mixScript), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-s", script)
	}
	args = append(args, a.Base+path)
	ctx, cancel := context.WithTimeout(context.Background(), d+2*wrkTimeout+30*time.Second)
	var cmd *exec.Cmd
	if a.net.NS != nil {
		cmd = a.net.NS.Command(ctx, wrk, args...)
	} else {
		cmd = exec.CommandContext(ctx, wrk, args...)
	}
	l := &Load{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer cancel()
		b, err := cmd.CombinedOutput()
		l.out = string(b)
		if err != nil {
			l.err = fmt.Errorf("wrk %s: %v: %s", strings.Join(args, " "), err, l.out)
			return
		}
		l.res, l.err = httpload.Parse(l.out)
	}()
	return l
}

// Wait waits for wrk to end and returns its figures, or why it produced none.
func (l *Load) Wait() (httpload.Result, string, error) {
	<-l.done
	return l.res, l.out, l.err
}

// Failures says what went wrong in a wrk run: socket errors, responses other than 2xx and
// 3xx, and requests that timed out; "" when nothing did.
func Failures(r httpload.Result) string {
	var f []string
	if r.Errors != "" {
		f = append(f, r.Errors)
	}
	if r.Timeouts > 0 {
		f = append(f, fmt.Sprintf("%d requests timed out (%v)", r.Timeouts, wrkTimeout))
	}
	return strings.Join(f, "; ")
}
