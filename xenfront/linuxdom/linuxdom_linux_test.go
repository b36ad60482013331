//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import (
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
	"github.com/unikit/unikit/xenfront/xentest"
)

// TestIoctlNumbers pins the numbers to _IOC(_IOC_NONE, type, nr, sizeof) of
// include/uapi/xen/gntalloc.h and evtchn.h as the C compiler of each ABI computes them.
func TestIoctlNumbers(t *testing.T) {
	alloc, dealloc := uintptr(0x00184705), uintptr(0x00104706) // 24- and 16-byte structs
	if runtime.GOARCH == "386" {
		alloc, dealloc = 0x00144705, 0x000c4706 // i386 aligns __u64 to 4: 20 and 12 bytes
	}
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"IOCTL_GNTALLOC_ALLOC_GREF", ioctlGntallocAllocGref, alloc},
		{"IOCTL_GNTALLOC_DEALLOC_GREF", ioctlGntallocDeallocGref, dealloc},
		{"IOCTL_EVTCHN_BIND_INTERDOMAIN", ioctlEvtchnBindInterdomain, 0x00084501},
		{"IOCTL_EVTCHN_BIND_UNBOUND_PORT", ioctlEvtchnBindUnboundPort, 0x00044502},
		{"IOCTL_EVTCHN_UNBIND", ioctlEvtchnUnbind, 0x00044503},
		{"IOCTL_EVTCHN_NOTIFY", ioctlEvtchnNotify, 0x00044504},
		{"IOCTL_EVTCHN_RESET", ioctlEvtchnReset, 0x00004505},
	} {
		require.Equal(t, c.want, c.got, "%s = %#x, want %#x", c.name, c.got, c.want)
	}
}

// TestLayouts pins the Go argument structures to the C ones: every field at its C offset, and
// at least sizeof(struct) bytes, since the kernel copies that many in and out.
func TestLayouts(t *testing.T) {
	var a allocGref
	require.Equal(t, uintptr(0), unsafe.Offsetof(a.Domid))
	require.Equal(t, uintptr(2), unsafe.Offsetof(a.Flags))
	require.Equal(t, uintptr(4), unsafe.Offsetof(a.Count))
	require.Equal(t, uintptr(8), unsafe.Offsetof(a.Index))
	require.Equal(t, uintptr(16), unsafe.Offsetof(a.GrefID)) // gref_ids[0]
	require.Equal(t, uintptr(24), unsafe.Sizeof(a))
	require.GreaterOrEqual(t, unsafe.Sizeof(a), uintptr(allocGrefCSize))

	var d deallocGref
	require.Equal(t, uintptr(0), unsafe.Offsetof(d.Index))
	require.Equal(t, uintptr(8), unsafe.Offsetof(d.Count))
	require.Equal(t, uintptr(16), unsafe.Sizeof(d))
	require.GreaterOrEqual(t, unsafe.Sizeof(d), uintptr(deallocGrefCSize))

	var b bindInterdomain
	require.Equal(t, uintptr(0), unsafe.Offsetof(b.RemoteDomain))
	require.Equal(t, uintptr(4), unsafe.Offsetof(b.RemotePort))
	require.Equal(t, uintptr(8), unsafe.Sizeof(b))
	require.Equal(t, uintptr(4), unsafe.Sizeof(evtchnPortArg{}))
}

func TestGrantTable(t *testing.T) {
	for _, ps := range []int{4096, 65536} {
		t.Run("page"+strconv.Itoa(ps), func(t *testing.T) {
			f := newFakeGntalloc(ps)
			g := newGrantTable(f, ps)
			var _ xenfront.GrantTable = g

			ref, page, err := g.Grant(3, false)
			require.NoError(t, err)
			require.Equal(t, xenfront.GrantRef(xenfront.NrReservedGrants), ref)
			require.Len(t, page, xenfront.PageSize)
			require.Equal(t, xenfront.PageSize, cap(page))
			require.Equal(t, uint16(3), f.pages[0].domid)
			require.True(t, f.pages[0].writable)
			page[0], page[4095] = 0xAA, 0xBB
			require.Equal(t, byte(0xAA), f.pages[0].mem[0], "the page is the device's mapping")
			require.Equal(t, byte(0xBB), f.pages[0].mem[4095])

			ref2, _, err := g.Grant(3, true)
			require.NoError(t, err)
			require.Equal(t, ref+1, ref2)
			require.False(t, f.pages[uint64(ps)].writable, "read-only grant without GNTALLOC_FLAG_WRITABLE")
			require.False(t, g.InUse(ref), "Linux cannot tell: InUse is false")
			require.Equal(t, 2, g.Granted())

			require.NoError(t, g.End(ref))
			grants, mapped := f.live()
			require.Equal(t, 1, grants)
			require.Equal(t, 1, mapped)
			require.ErrorIs(t, g.End(ref), xenfront.ErrBadGrant, "ended twice")
			require.ErrorIs(t, g.End(12345), xenfront.ErrBadGrant)

			require.NoError(t, g.Close())
			require.NoError(t, g.Close(), "idempotent")
			grants, mapped = f.live()
			require.Zero(t, grants)
			require.Zero(t, mapped)
			_, _, err = g.Grant(3, false)
			require.ErrorIs(t, err, xenfront.ErrClosed)
		})
	}
}

func TestGrantMmapFailureDeallocates(t *testing.T) {
	f := newFakeGntalloc(4096)
	f.failMmap = true
	g := newGrantTable(f, 4096)
	_, _, err := g.Grant(1, false)
	require.ErrorIs(t, err, syscall.ENOMEM)
	grants, _ := f.live()
	require.Zero(t, grants, "the allocated grant was released")
	require.Zero(t, g.Granted())
}

// Grant hands out a zeroed page even if the driver's page is not (the kernel zeroes it with
// __GFP_ZERO; the contract does not depend on that).
func TestGrantZeroed(t *testing.T) {
	f := newFakeGntalloc(4096)
	f.dirty = true
	g := newGrantTable(f, 4096)
	defer g.Close()
	_, page, err := g.Grant(1, false)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 4096), page)
}

func TestGrantRejectsReservedRef(t *testing.T) {
	f := newFakeGntalloc(4096)
	f.nextRef = 1 // the xenstore ring's reserved reference
	g := newGrantTable(f, 4096)
	defer g.Close()
	_, _, err := g.Grant(1, false)
	require.ErrorIs(t, err, xenfront.ErrBadGrant)
	grants, mapped := f.live()
	require.Zero(t, grants)
	require.Zero(t, mapped)
}

// twoDomains opens event channels in domain 0 (dom0, the back end) and 5 (the front end) on
// one fake Xen.
func twoDomains(t *testing.T, capacity int) (x *fakeXen, back, front *EventChannels, fd *fakeEvtchn) {
	x = newFakeXen()
	bd, fd := x.open(0, capacity), x.open(5, capacity)
	back, front = newEventChannels(bd), newEventChannels(fd)
	t.Cleanup(func() {
		require.NoError(t, front.CloseAll())
		require.NoError(t, back.CloseAll())
		require.NoError(t, front.CloseAll(), "idempotent")
	})
	return x, back, front, fd
}

func TestEventChannels(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { leaktest.Settle(t, before) })
	_, back, front, fd := twoDomains(t, 64)
	var _ xenfront.EventChannels = front

	// The front end allocates an unbound port for dom0; dom0 binds to it.
	fp, err := front.AllocUnbound(0)
	require.NoError(t, err)
	bp, err := back.BindInterdomain(5, fp)
	require.NoError(t, err)
	require.NotEqual(t, fp, bp)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, back.Notify(bp))
	require.NoError(t, front.Wait(ctx, fp))
	require.NoError(t, front.Notify(fp))
	require.NoError(t, back.Wait(ctx, bp))

	// Many notifications coalesce into at least one wake-up and at most as many.
	for range 10 {
		require.NoError(t, back.Notify(bp))
	}
	require.NoError(t, front.Wait(ctx, fp))
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	for {
		if err := front.Wait(short, fp); err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			break
		}
	}
	cancelShort()

	// Every port read was written back (unmasked), as whole 4-byte numbers.
	fd.x.mu.Lock()
	require.Positive(t, fd.writes)
	require.False(t, fd.badWrite, "only whole numbers of ports bound here are written back")
	require.False(t, fd.x.ports[uint32(fp)].masked)
	fd.x.mu.Unlock()

	// Unknown ports.
	require.ErrorIs(t, front.Notify(999), xenfront.ErrPortClosed)
	require.ErrorIs(t, front.Wait(ctx, 999), xenfront.ErrPortClosed)
	require.ErrorIs(t, front.Close(999), xenfront.ErrPortClosed)
	_, err = back.BindInterdomain(5, 999)
	require.ErrorIs(t, err, syscall.EINVAL)

	// Closing a port ends its waiter and unbinds it in the kernel.
	waitErr := make(chan error, 1)
	go func() { waitErr <- front.Wait(ctx, fp) }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, front.Close(fp))
	require.ErrorIs(t, <-waitErr, xenfront.ErrPortClosed)
	require.ErrorIs(t, front.Notify(fp), xenfront.ErrPortClosed)
	fd.x.mu.Lock()
	_, bound := fd.x.ports[uint32(fp)]
	fd.x.mu.Unlock()
	require.False(t, bound, "IOCTL_EVTCHN_UNBIND reached the driver")
}

// TestEventOverflow fills the kernel's queue: the reader resets it, wakes every waiter and
// unmasks every port, so no event is lost for good.
func TestEventOverflow(t *testing.T) {
	x, _, front, fd := twoDomains(t, 2)
	ports := make([]xenfront.Port, 4)
	for i := range ports {
		p, err := front.AllocUnbound(0)
		require.NoError(t, err)
		ports[i] = p
	}
	// Fire all four at once, before the reader can drain: the queue of 2 overflows.
	x.mu.Lock()
	for _, p := range ports {
		x.fire(uint32(p))
	}
	require.True(t, fd.overflow)
	x.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range ports {
		require.NoError(t, front.Wait(ctx, p))
	}
	require.Eventually(t, func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, p := range ports {
			if x.ports[uint32(p)].masked {
				return false
			}
		}
		return !fd.overflow
	}, 5*time.Second, time.Millisecond)
	// Events keep flowing afterwards.
	x.Fire(uint32(ports[3]))
	require.NoError(t, front.Wait(ctx, ports[3]))
}

// TestEventDeviceClosed: when the device goes away, every waiter is released and later calls
// fail.
func TestEventDeviceClosed(t *testing.T) {
	x := newFakeXen()
	d := x.open(5, 8)
	e := newEventChannels(d)
	p, err := e.AllocUnbound(0)
	require.NoError(t, err)
	waitErr := make(chan error, 1)
	go func() { waitErr <- e.Wait(context.Background(), p) }()
	require.NoError(t, e.CloseAll())
	require.ErrorIs(t, <-waitErr, xenfront.ErrPortClosed)
	_, err = e.AllocUnbound(0)
	require.ErrorIs(t, err, xenfront.ErrClosed)
	require.ErrorIs(t, err, os.ErrClosed)
	require.ErrorIs(t, e.Notify(p), xenfront.ErrPortClosed)
}

func TestEventAllocs(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	_, back, front, _ := twoDomains(t, 64)
	fp, err := front.AllocUnbound(0)
	require.NoError(t, err)
	bp, err := back.BindInterdomain(5, fp)
	require.NoError(t, err)
	ctx := context.Background()
	got := allocs.Measure(200, 0, func() {
		if err := back.Notify(bp); err != nil {
			panic(err)
		}
		if err := front.Wait(ctx, fp); err != nil {
			panic(err)
		}
	})
	require.Zero(t, got.Mallocs, "Notify and Wait: %v", got)
	b := binary.NativeEndian.AppendUint32(nil, uint32(fp))
	got = allocs.Measure(200, 0, func() { front.dispatch(b) })
	require.Zero(t, got.Mallocs, "dispatch: %v", got)
}

func BenchmarkNotifyWait(b *testing.B) {
	x := newFakeXen()
	back, front := newEventChannels(x.open(0, 64)), newEventChannels(x.open(5, 64))
	defer back.CloseAll()
	defer front.CloseAll()
	fp, _ := front.AllocUnbound(0)
	bp, _ := back.BindInterdomain(5, fp)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := back.Notify(bp); err != nil {
			b.Fatal(err)
		}
		if err := front.Wait(ctx, fp); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDispatch feeds arbitrary device reads to the port dispatcher: it latches events only for
// bound ports, never panics, and writes back whole port numbers only.
func FuzzDispatch(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := &EventChannels{ports: map[xenfront.Port]*evport{
			1: {ev: make(chan struct{}, 1), closed: make(chan struct{})},
		}}
		n := e.dispatch(b)
		require.Equal(t, len(b)&^3, n)
		fired := false
		for i := 0; i+4 <= len(b); i += 4 {
			fired = fired || binary.NativeEndian.Uint32(b[i:]) == 1
		}
		require.Equal(t, fired, len(e.ports[1].ev) == 1)
	})
}

// socketpairDevice returns a devFile on one end of a socketpair, the same kind of pollable
// byte-stream descriptor as /dev/xen/xenbus, with xentest's simulated xenstored serving the
// wire protocol for domain 5 on the other end. served receives Serve's result.
func socketpairDevice(t *testing.T, h *xentest.Hypervisor) (d *devFile, xsdSide *os.File, served chan error) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, syscall.SetNonblock(fds[0], true))
	require.NoError(t, syscall.SetNonblock(fds[1], true))
	devSide, xsdSide := os.NewFile(uintptr(fds[0]), "xenbus"), os.NewFile(uintptr(fds[1]), "xenstored")
	served = make(chan error, 1)
	go func() { served <- h.Xenstored().Serve(xsdSide, 5) }()
	return &devFile{f: devSide}, xsdSide, served
}

// TestStoreOverSocketpair runs the Store on two socketpairs, with xentest's simulated
// xenstored on the other ends speaking the wire protocol: requests on one, watches (and their
// events) on the other.
func TestStoreOverSocketpair(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { leaktest.Settle(t, before) })
	h := xentest.New()
	reqDev, reqXsd, reqServed := socketpairDevice(t, h)
	watchDev, watchXsd, watchServed := socketpairDevice(t, h)
	s := newStore(reqDev, watchDev)
	var st xenstore.Store = s

	require.NoError(t, st.Write(0, "device/vif/0/state", "1"))
	v, err := st.Read(0, "/local/domain/5/device/vif/0/state")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	_, err = st.Read(0, "device/vif/0/nope")
	require.ErrorIs(t, err, xenstore.ErrNotFound)
	names, err := st.Directory(0, "device/vif/0")
	require.NoError(t, err)
	require.Equal(t, []string{"state"}, names)

	tx, err := st.Start()
	require.NoError(t, err)
	require.NoError(t, st.Write(tx, "device/vif/0/tx-ring-ref", "8"))
	require.NoError(t, st.End(tx, true))
	v, err = st.Read(0, "device/vif/0/tx-ring-ref")
	require.NoError(t, err)
	require.Equal(t, "8", v)

	w, err := st.Watch("device/vif/0/state")
	require.NoError(t, err)
	select {
	case <-w.C: // the initial event
	case <-time.After(10 * time.Second):
		t.Fatal("no initial watch event")
	}
	require.NoError(t, st.Write(0, "device/vif/0/state", "4"))
	select {
	case p := <-w.C:
		require.Contains(t, p, "device/vif/0/state")
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event after a write")
	}
	require.NoError(t, w.Close())
	require.NoError(t, st.Remove(0, "device/vif/0"))
	_, err = st.Read(0, "device/vif/0/state")
	require.ErrorIs(t, err, xenstore.ErrNotFound)

	// Closing the client closes the descriptor and ends its reader even while it is blocked.
	require.NoError(t, s.Close())
	require.Error(t, <-reqServed)
	require.Error(t, <-watchServed)
	require.NoError(t, reqXsd.Close())
	require.NoError(t, watchXsd.Close())
}

// TestOpenWithoutXen: outside a Xen domain (this repository's CI) Open fails cleanly with
// ErrNoDevice and leaves nothing open.
func TestOpenWithoutXen(t *testing.T) {
	if _, err := os.Stat("/dev/xen/gntalloc"); err == nil {
		t.Skip("a Xen domain: /dev/xen/gntalloc exists")
	}
	before := runtime.NumGoroutine()
	d, err := Open()
	require.ErrorIs(t, err, ErrNoDevice)
	require.Nil(t, d)
	leaktest.Settle(t, before)
}
