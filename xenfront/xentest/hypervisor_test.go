package xentest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// TestGrantEnforcement checks that a back end reaches only what a front end granted it, in
// the way it was granted, and that a mapped grant cannot be revoked (XSA-396).
func TestGrantEnforcement(t *testing.T) {
	h := New()
	fe, be, other := h.Domain(1), h.Domain(0), h.Domain(2)
	g := fe.GrantTable()

	ro, roPage, err := g.Grant(0, true)
	require.NoError(t, err)
	require.GreaterOrEqual(t, ro, xenfront.GrantRef(xenfront.NrReservedGrants))
	require.Len(t, roPage, xenfront.PageSize)
	require.Equal(t, make([]byte, xenfront.PageSize), roPage, "granted pages start zeroed")
	rw, rwPage, err := g.Grant(0, false)
	require.NoError(t, err)
	copy(roPage, "hello")

	buf := make([]byte, 5)
	require.NoError(t, be.CopyFrom(1, ro, 0, buf))
	require.Equal(t, "hello", string(buf))
	require.ErrorIs(t, be.CopyTo(1, ro, 0, buf), ErrPermission, "read-only grant written")
	_, err = be.Map(1, ro, true)
	require.ErrorIs(t, err, ErrPermission, "read-only grant mapped writable")
	require.ErrorIs(t, other.CopyFrom(1, ro, 0, buf), ErrPermission, "grant used by a domain it is not for")
	require.ErrorIs(t, be.CopyFrom(1, 4000, 0, buf), ErrPermission, "reference never granted")
	require.ErrorIs(t, be.CopyFrom(1, ro, 4093, buf), ErrBadCopy, "copy past the page")
	require.ErrorIs(t, be.CopyFrom(1, ro, -1, buf), ErrBadCopy)

	require.NoError(t, be.CopyTo(1, rw, 10, []byte("xyz")))
	require.Equal(t, "xyz", string(rwPage[10:13]))

	m, err := be.Map(1, rw, true)
	require.NoError(t, err)
	require.True(t, g.InUse(rw))
	require.ErrorIs(t, g.End(rw), xenfront.ErrGrantInUse)
	m.Unmap()
	m.Unmap() // idempotent
	require.False(t, g.InUse(rw))
	require.NoError(t, g.End(rw))
	require.ErrorIs(t, g.End(rw), xenfront.ErrBadGrant)
	require.ErrorIs(t, be.CopyFrom(1, rw, 0, buf), ErrPermission, "ended grant")
	require.NoError(t, g.End(ro))
	require.Zero(t, h.Granted(1))
}

func TestEventChannels(t *testing.T) {
	h := New()
	fe, be := h.Domain(1).EventChannels(), h.Domain(0).EventChannels()
	fp, err := fe.AllocUnbound(0)
	require.NoError(t, err)
	_, err = h.Domain(2).EventChannels().BindInterdomain(1, fp)
	require.Error(t, err, "only the named remote domain may bind")
	bp, err := be.BindInterdomain(1, fp)
	require.NoError(t, err)
	_, err = be.BindInterdomain(1, fp)
	require.Error(t, err, "a port binds once")

	// Events coalesce: three notifications, one wake-up.
	for range 3 {
		require.NoError(t, fe.Notify(fp))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, be.Wait(ctx, bp))
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	require.ErrorIs(t, be.Wait(short, bp), context.DeadlineExceeded)

	require.NoError(t, be.Notify(bp))
	require.NoError(t, fe.Wait(ctx, fp))

	done := make(chan error, 1)
	go func() { done <- fe.Wait(context.Background(), fp) }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, fe.Close(fp))
	require.ErrorIs(t, <-done, xenfront.ErrPortClosed)
	require.NoError(t, be.Notify(bp), "notifying a port whose peer closed does nothing")
	require.NoError(t, be.Close(bp))
	require.Zero(t, h.OpenPorts(0)+h.OpenPorts(1))
}

func TestStoreWatchAndTransactions(t *testing.T) {
	h := New()
	st := h.Domain(1).Store()
	w, err := st.Watch("device")
	require.NoError(t, err)
	require.Equal(t, "/local/domain/1/device", <-w.C)
	require.NoError(t, st.Write(0, "device/vif/0/state", "1"))
	require.Equal(t, "/local/domain/1/device/vif/0/state", <-w.C)

	h.Xenstored().FailCommits(1)
	tx, err := st.Start()
	require.NoError(t, err)
	require.NoError(t, st.Write(tx, "device/vif/0/tx-ring-ref", "8"))
	require.ErrorIs(t, st.End(tx, true), xenstore.ErrAgain)
	tx, err = st.Start()
	require.NoError(t, err)
	require.NoError(t, st.Write(tx, "device/vif/0/tx-ring-ref", "8"))
	require.NoError(t, st.End(tx, true))
	require.Equal(t, "/local/domain/1/device/vif/0/tx-ring-ref", <-w.C)
	require.NoError(t, st.Remove(0, "device/vif"))
	_, err = st.Read(0, "device/vif/0/state")
	require.ErrorIs(t, err, xenstore.ErrNotFound)
	w.Close()
	w.Close()
	_, err = st.Read(0, "a//b")
	require.Error(t, err)
}
