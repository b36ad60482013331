//go:build unix

package guest

import (
	"context"
	"errors"
	"flag"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunAppExitStatus(t *testing.T) {
	var got []string
	ok := func(ctx context.Context, args []string) error { got = args; return nil }
	assert.Equal(t, 0, runApp(ok, []string{"-listen", ":80"}))
	assert.Equal(t, []string{"-listen", ":80"}, got)
	assert.Equal(t, 2, runApp(func(context.Context, []string) error { return flag.ErrHelp }, nil))
	assert.Equal(t, 1, runApp(func(context.Context, []string) error { return errors.New("boom") }, nil))
}

func TestRunAppCancelsOnSIGTERM(t *testing.T) {
	status := runApp(func(ctx context.Context, _ []string) error {
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("context not cancelled by SIGTERM")
		}
	}, nil)
	assert.Equal(t, 0, status)
}

func TestConfigDefaults(t *testing.T) {
	c := (*Config)(nil).withDefaults()
	assert.Contains(t, c.Modules, "button")
	assert.Contains(t, c.Modules, "evdev")
	assert.Equal(t, DefaultModuleDir, c.ModuleDir)
	assert.Equal(t, DefaultShutdownTimeout, c.ShutdownTimeout)
	none := (&Config{Modules: []string{}}).withDefaults()
	assert.Empty(t, none.Modules)
	assert.NotNil(t, none.Modules)
}

func TestInGuest(t *testing.T) {
	t.Setenv(EnvGuest, "")
	assert.False(t, InGuest())
	t.Setenv(EnvGuest, "1")
	assert.True(t, InGuest())
}
