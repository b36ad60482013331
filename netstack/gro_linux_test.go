package netstack_test

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link/tap"
)

// TestGROFromLinux sends 16 MiB from the Linux kernel to the stack over a TAP device without
// offloads, so that every frame is one MTU-sized segment, and checks that the bytes arrive
// intact and that the adapter handed gVisor fewer packets than the link delivered frames:
// consecutive segments of the stream were coalesced (gro.go).
func TestGROFromLinux(t *testing.T) {
	ts := newTAPStream(t, &tap.Config{NoOffload: true}, false)
	data := make([]byte, 16<<20)
	_, _ = rand.Read(data)
	done := make(chan error, 1)
	go func() {
		_, err := ts.kernel.Write(data)
		if err == nil {
			err = ts.kernel.Close()
		}
		done <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, ts.stack)
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.EqualValues(t, len(data), n)
	require.Equal(t, sha256.Sum256(data), [32]byte(h.Sum(nil)))

	frames := ts.link.Stats().RxFrames
	packets := ts.s.Stats().NICs[0].RxPackets
	t.Logf("%d frames from the link, %d packets to gVisor", frames, packets)
	require.Greater(t, frames, uint64(len(data)/1500), "the kernel sent MTU-sized frames")
	require.Less(t, packets, frames/2, "segments coalesced")
}
