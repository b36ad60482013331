//go:build linux

package soak

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Bad start-ups must end within BadStartLimit.
const BadStartLimit = time.Second

// badStartKill is when RunBad gives up on a start-up that does not end by itself.
const badStartKill = 10 * time.Second

// RunBad runs cmd, an appliance started with something wrong, and returns how it ended: its
// exit status (-1 if it had to be killed after badStartKill), how long it took and the last
// line it wrote on standard error.
func RunBad(t testing.TB, name string, cmd *exec.Cmd) BadStart {
	t.Helper()
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	cmd.WaitDelay = time.Second
	b := BadStart{Name: name, Args: cmd.Args}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	timer := time.AfterFunc(badStartKill, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	b.Seconds = time.Since(start).Seconds()
	var exit *exec.ExitError
	switch {
	case err == nil:
		b.Exit = 0
	case errors.As(err, &exit) && exit.Exited():
		b.Exit = exit.ExitCode()
	default:
		b.Exit = -1
	}
	b.Message = lastLines(strings.TrimSpace(stderr.String()), 1)
	if stdout.Len() > 0 {
		t.Logf("%s printed on standard output: %s", name, stdout.String())
	}
	return b
}
