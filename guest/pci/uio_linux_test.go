package pci_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/guest/pci/pcitest"
	"github.com/unikit/unikit/internal/allocs"
)

// TestUIOWait stands a FIFO in for /dev/uio0: like the uio character device it blocks
// readers and supports poll, so Wait runs through the runtime's poller as it does on the
// device, and Close must end a blocked Wait.
func TestUIOWait(t *testing.T) {
	root, dev := pcitest.NewSysfs(t), t.TempDir()
	f := nic()
	f.UIO = "uio0"
	f.Write(t, root)
	fifo := filepath.Join(dev, "uio0")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))

	u, err := pci.OpenUIO(root, dev, nicAddr)
	require.NoError(t, err)
	assert.Equal(t, "uio0", u.Name())
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer w.Close()

	counts := make(chan uint32)
	errs := make(chan error, 1)
	go func() {
		for {
			n, err := u.Wait()
			if err != nil {
				errs <- err
				return
			}
			counts <- n
		}
	}()
	for _, n := range []uint32{1, 2, 5} {
		require.NoError(t, binary.Write(w, binary.NativeEndian, n))
		select {
		case got := <-counts:
			assert.Equal(t, n, got)
		case <-time.After(10 * time.Second):
			t.Fatal("Wait did not return after an interrupt")
		}
	}
	require.NoError(t, u.Close())
	select {
	case err := <-errs:
		require.ErrorIs(t, err, os.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Wait")
	}
	require.NoError(t, u.Close(), "idempotent")
}

func TestOpenUIOWithoutDevice(t *testing.T) {
	root := pcitest.NewSysfs(t)
	nic().Write(t, root)
	_, err := pci.OpenUIO(root, t.TempDir(), nicAddr)
	require.Error(t, err)

	root = pcitest.NewSysfs(t)
	f := nic()
	f.UIO = "uio7"
	f.Write(t, root)
	_, err = pci.OpenUIO(root, t.TempDir(), nicAddr)
	require.ErrorIs(t, err, os.ErrNotExist, "sysfs names uio7 but /dev has none")
}

func TestUIOWaitDoesNotAllocate(t *testing.T) {
	root, dev := pcitest.NewSysfs(t), t.TempDir()
	f := nic()
	f.UIO = "uio0"
	f.Write(t, root)
	fifo := filepath.Join(dev, "uio0")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	u, err := pci.OpenUIO(root, dev, nicAddr)
	require.NoError(t, err)
	defer u.Close()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer w.Close()
	events := make([]byte, 4*1000) // more than allocs.Measure reads: a warm-up and five attempts of 100
	_, err = w.Write(events)
	require.NoError(t, err)
	r := allocs.Measure(100, 0, func() {
		if _, err := u.Wait(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, r.Mallocs, "Wait runs once per interrupt: %v", r)
}
