package guest

import (
	"bytes"
	"log/slog"
	"os"
	"os/signal"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as an appliance for the supervise tests.
const helperEnv = "GUEST_TEST_APPLIANCE"

// TestMain runs the helper appliance when the test binary is started as one: it exits 0 on
// SIGTERM ("obey") or ignores it ("ignore").
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "obey":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, unix.SIGTERM)
		os.Stdout.WriteString("ready\n")
		<-sig
		os.Exit(0)
	case "ignore":
		signal.Ignore(unix.SIGTERM)
		os.Stdout.WriteString("ready\n")
		select {}
	}
	os.Exit(m.Run())
}

// startHelper starts the test binary as an appliance and waits until it handles signals.
func startHelper(t *testing.T, mode string) *os.Process {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	p, err := os.StartProcess("/proc/self/exe", []string{os.Args[0]}, &os.ProcAttr{
		Env:   append(os.Environ(), helperEnv+"="+mode),
		Files: []*os.File{nil, w, os.Stderr},
	})
	w.Close()
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = r.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ready\n", string(buf))
	return p
}

func TestSuperviseStopsTheAppliance(t *testing.T) {
	for _, tc := range []struct {
		mode, trigger string
		want          string
	}{
		{"obey", "signal", "the appliance exited"},
		{"obey", "power button", "the appliance exited"},
		{"ignore", "signal", "the appliance was killed"},
	} {
		t.Run(tc.mode+" "+tc.trigger, func(t *testing.T) {
			exited := make(chan os.Signal, 1)
			signal.Notify(exited, unix.SIGCHLD)
			defer signal.Stop(exited)
			app := startHelper(t, tc.mode)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			sigs := make(chan os.Signal, 1)
			pressed := make(chan struct{}, 1)
			if tc.trigger == "signal" {
				sigs <- unix.SIGTERM
			} else {
				pressed <- struct{}{}
			}
			// An obedient appliance gets long enough even under the race detector, whose
			// binaries sleep a second at exit.
			timeout := 10 * time.Second
			if tc.mode == "ignore" {
				timeout = 200 * time.Millisecond
			}
			done := make(chan struct{})
			go func() {
				supervise(Config{ShutdownTimeout: timeout}, log, app, sigs, exited, pressed)
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				app.Kill()
				t.Fatal("supervise did not return")
			}
			assert.Contains(t, logs.String(), tc.want)
			assert.Contains(t, logs.String(), "stopping the appliance")
			// The appliance was reaped: no such child is left.
			_, err := unix.Wait4(app.Pid, nil, unix.WNOHANG, nil)
			assert.ErrorIs(t, err, unix.ECHILD)
		})
	}
}

func TestSuperviseReportsFailure(t *testing.T) {
	exited := make(chan os.Signal, 1)
	signal.Notify(exited, unix.SIGCHLD)
	defer signal.Stop(exited)
	p, err := os.StartProcess("/proc/self/exe", []string{os.Args[0], "-test.run=^$", "-test.badflag"},
		&os.ProcAttr{Files: []*os.File{nil, nil, nil}})
	require.NoError(t, err)
	var logs bytes.Buffer
	supervise(Config{ShutdownTimeout: time.Second}, slog.New(slog.NewTextHandler(&logs, nil)), p,
		nil, exited, nil)
	assert.Contains(t, logs.String(), "the appliance failed")
	assert.Contains(t, logs.String(), "status=2")
}
