package netstack_test

import (
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTCPConnNotifyReadable checks that NotifyReadable calls its function once, and only once
// a Read would not block: when data comes, at once when data is there already, at the peer's
// half-close, at the read deadline (passing or set in the past) and on Close.
func TestTCPConnNotifyReadable(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)

	var calls atomic.Int32
	notified := make(chan struct{}, 4)
	fn := func() {
		calls.Add(1)
		notified <- struct{}{}
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-notified:
		case <-time.After(5 * time.Second):
			t.Fatalf("no notification %s", what)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-notified:
			t.Fatalf("notified %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}

	d.NotifyReadable(fn)
	quiet("before any data")
	_, err := a.Write([]byte("xy"))
	require.NoError(t, err)
	wait("when data came")
	_, err = a.Write([]byte("z"))
	require.NoError(t, err)
	quiet("twice for one NotifyReadable")

	d.NotifyReadable(fn)
	wait("with data there already")
	b := make([]byte, 3)
	_, err = io.ReadFull(d, b)
	require.NoError(t, err)
	require.Equal(t, "xyz", string(b))

	d.NotifyReadable(fn)
	require.NoError(t, d.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	wait("at the read deadline")
	_, err = d.Read(b)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, d.SetReadDeadline(time.Time{}))

	d.NotifyReadable(fn)
	quiet("with the deadline removed")
	require.NoError(t, d.SetReadDeadline(time.Unix(1, 0)))
	wait("at a deadline set in the past")
	require.NoError(t, d.SetReadDeadline(time.Time{}))

	d.NotifyReadable(fn)
	require.NoError(t, a.CloseWrite())
	wait("at the peer's half-close")
	_, err = d.Read(b)
	require.Equal(t, io.EOF, err)

	a.NotifyReadable(fn)
	quiet("on the other end, before anything")
	require.NoError(t, a.Close())
	wait("on Close")
	a.NotifyReadable(fn)
	wait("after Close")
	assert.Equal(t, int32(7), calls.Load())
}

// TestTCPConnNotifyReadableAllocs checks that parking a connection again and again allocates
// nothing.
func TestTCPConnNotifyReadableAllocs(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	_, err := a.Write([]byte("x"))
	require.NoError(t, err)
	fn := func() {}
	d.NotifyReadable(fn) // registers the entry
	allocs := testing.AllocsPerRun(100, func() { d.NotifyReadable(fn) })
	assert.Zero(t, allocs)
}
