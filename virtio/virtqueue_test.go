package virtio_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// queuePair sets up queue 0 of a modelled device through virtio-mmio with the given features
// and returns the driver and device sides and the shared memory.
func queuePair(tb testing.TB, size int, features uint64, cfg *virtio.QueueConfig) (virtio.Virtqueue, *virtiotest.Queue, *virtio.Arena) {
	tb.Helper()
	mem := virtio.NewArena(1<<20, 0x100000)
	dev := virtiotest.NewDevice(mem, 42, features|virtio.FeatureVersion1, make([]byte, 16), 1, size)
	tr, err := virtio.NewMMIO(dev.MMIO())
	require.NoError(tb, err)
	got, err := virtio.Negotiate(tr, func(o uint64) uint64 { return o })
	require.NoError(tb, err)
	require.Equal(tb, features|virtio.FeatureVersion1, got)
	var q virtio.Virtqueue
	if features&virtio.FeatureRingPacked != 0 {
		q, err = virtio.NewPackedQueue(mem, size, cfg)
	} else {
		q, err = virtio.NewSplitQueue(mem, size, cfg)
	}
	require.NoError(tb, err)
	d, dr, dv := q.Addrs()
	require.NoError(tb, tr.EnableQueue(0, size, d, dr, dv))
	require.NoError(tb, virtio.DriverOK(tr))
	return q, dev.Queue(0), mem
}

// kinds are the two ring layouts: split, and packed (VIRTIO_F_RING_PACKED).
var kinds = map[string]uint64{"split": 0, "packed": virtio.FeatureRingPacked}

func TestRoundTrip(t *testing.T) {
	for name, kind := range kinds {
		t.Run(name, func(t *testing.T) { testRoundTrip(t, kind) })
	}
}

func testRoundTrip(t *testing.T, kind uint64) {
	for _, indirect := range []int{0, 4} {
		q, dq, mem := queuePair(t, 8, kind|virtio.FeatureIndirectDesc, &virtio.QueueConfig{Indirect: indirect})
		bufs, err := mem.Alloc(4096, 64)
		require.NoError(t, err)
		// Wrap the 16-bit indexes several times.
		for round := range 20000 {
			chain := []virtio.Buffer{
				{Addr: bufs.Addr, Len: 10},
				{Addr: bufs.Addr + 100, Len: 20},
				{Addr: bufs.Addr + 200, Len: 300, Write: true},
			}
			copy(bufs.Buf, "0123456789")
			head, err := q.Add(chain, uint64(round))
			require.NoError(t, err)
			q.KickPrepare() // publishes the chain
			if indirect > 0 {
				require.Equal(t, 7, q.NumFree(), "an indirect chain takes one ring descriptor")
			} else {
				require.Equal(t, 5, q.NumFree())
			}
			var c virtiotest.Chain
			ok, err := dq.Pop(&c)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, head, c.Head)
			require.Len(t, c.Readable, 2)
			require.Len(t, c.Writable, 1)
			require.Equal(t, "0123456789", string(c.Readable[0]))
			require.Len(t, c.Writable[0], 300)
			copy(c.Writable[0], "reply")
			dq.Push(c.Head, 5)
			dq.Flush()
			u, ok, err := q.Get()
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, virtio.Used{Token: uint64(round), Head: head, Len: 5}, u)
			require.Equal(t, "reply", string(bufs.Buf[200:205]))
			require.Equal(t, 8, q.NumFree())
			_, ok, err = q.Get()
			require.NoError(t, err)
			require.False(t, ok)
		}
	}
}

func TestFullAndOrder(t *testing.T) {
	for name, kind := range kinds {
		t.Run(name, func(t *testing.T) { testFullAndOrder(t, kind) })
	}
}

func testFullAndOrder(t *testing.T, kind uint64) {
	q, dq, mem := queuePair(t, 4, kind, nil)
	b, _ := mem.Alloc(64, 8)
	for i := range 4 {
		_, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8, Write: true}}, uint64(i))
		require.NoError(t, err)
	}
	_, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8}}, 9)
	require.ErrorIs(t, err, virtio.ErrQueueFull)
	_, err = q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8, Write: true}, {Addr: b.Addr, Len: 8}}, 9)
	require.Error(t, err, "readable after writable")
	q.KickPrepare()
	// The device completes out of order; the driver gets them in used-ring order.
	var chains [4]virtiotest.Chain
	for i := range chains {
		ok, err := dq.Pop(&chains[i])
		require.NoError(t, err)
		require.True(t, ok)
	}
	for _, i := range []int{2, 0, 3, 1} {
		dq.Push(chains[i].Head, 1)
	}
	dq.Flush()
	for _, want := range []uint64{2, 0, 3, 1} {
		u, ok, err := q.Get()
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, u.Token)
	}
}

// TestEventIdx checks notification suppression both ways with VIRTIO_F_EVENT_IDX.
func TestEventIdx(t *testing.T) {
	q, dq, mem := queuePair(t, 16, virtio.FeatureEventIdx, &virtio.QueueConfig{EventIdx: true})
	b, _ := mem.Alloc(64, 8)
	add := func() {
		_, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8, Write: true}}, 0)
		require.NoError(t, err)
	}
	// avail_event starts at 0: the first buffer (idx 0 -> 1) needs a kick, later ones do not
	// until the device moves avail_event.
	add()
	require.True(t, q.KickPrepare())
	add()
	require.False(t, q.KickPrepare(), "device has not asked for another kick")
	require.False(t, q.KickPrepare(), "nothing new")
	var c virtiotest.Chain
	for range 2 {
		ok, err := dq.Pop(&c)
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.False(t, dq.EnableNotify(), "ring drained")
	add()
	require.True(t, q.KickPrepare(), "device asked for a kick at avail idx 2")

	// Interrupts: used_event starts at 0, so the first used buffer interrupts.
	irqs := 0
	virtiotest.CountInterrupts(dq, &irqs)
	dq.Push(c.Head, 0)
	dq.Flush()
	require.Equal(t, 1, irqs)
	_, ok, err := q.Get()
	require.NoError(t, err)
	require.True(t, ok)
	// Without re-enabling, the next completion does not interrupt.
	dq.Push(c.Head, 0) // same head again: caught by Get below
	dq.Flush()
	require.Equal(t, 1, irqs, "used_event not advanced: no interrupt")
	require.True(t, q.EnableInterrupts(), "a completion is pending")
	_, _, err = q.Get()
	require.ErrorIs(t, err, virtio.ErrDeviceBroken, "the same head twice")
}

// TestNoNotifyFlags checks VIRTQ_AVAIL_F_NO_INTERRUPT without EVENT_IDX.
func TestNoInterruptFlag(t *testing.T) {
	q, dq, mem := queuePair(t, 8, 0, nil)
	b, _ := mem.Alloc(64, 8)
	irqs := 0
	virtiotest.CountInterrupts(dq, &irqs)
	var c virtiotest.Chain
	for i, disable := range []bool{false, true, false} {
		if disable {
			q.DisableInterrupts()
		} else {
			require.False(t, q.EnableInterrupts())
		}
		_, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8, Write: true}}, 0)
		require.NoError(t, err)
		require.True(t, q.KickPrepare(), "no NO_NOTIFY from the device")
		ok, err := dq.Pop(&c)
		require.NoError(t, err)
		require.True(t, ok)
		dq.Push(c.Head, 0)
		dq.Flush()
		_, ok, err = q.Get()
		require.NoError(t, err)
		require.True(t, ok)
		want := map[int]int{0: 1, 1: 1, 2: 2}[i]
		require.Equal(t, want, irqs, "round %d", i)
	}
}

// TestMaliciousUsed injects used entries that break the protocol: every one breaks the queue
// with ErrDeviceBroken, and the queue stays broken.
func TestMaliciousUsed(t *testing.T) {
	for name, kind := range kinds {
		t.Run(name, func(t *testing.T) { testMaliciousUsed(t, kind) })
	}
}

func testMaliciousUsed(t *testing.T, kind uint64) {
	for _, tc := range []struct {
		name   string
		inject func(dq *virtiotest.Queue, head uint16)
		msg    string
	}{
		{"id out of range", func(dq *virtiotest.Queue, _ uint16) { dq.InjectUsed(8, 0) }, "out of range"},
		{"id huge", func(dq *virtiotest.Queue, _ uint16) { dq.InjectUsed(0xffffffff, 0) }, "out of range"},
		{"not a head", func(dq *virtiotest.Queue, head uint16) { dq.InjectUsed(uint32(head+2)%8, 0) }, "outstanding"},
		{"repeated id", func(dq *virtiotest.Queue, head uint16) {
			dq.InjectUsed(uint32(head), 4)
			dq.InjectUsed(uint32(head), 4)
		}, "outstanding"},
		{"length too large", func(dq *virtiotest.Queue, head uint16) { dq.InjectUsed(uint32(head), 65) }, "exceeds"},
		{"index jumps", func(dq *virtiotest.Queue, _ uint16) { dq.SetUsedIdx(1000) }, "outstanding"},
		{"index backwards", func(dq *virtiotest.Queue, _ uint16) { dq.SetUsedIdx(0xffff) }, "outstanding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if kind != 0 && strings.HasPrefix(tc.name, "index") {
				t.Skip("packed rings have no used index")
			}
			q, dq, mem := queuePair(t, 8, kind, nil)
			b, _ := mem.Alloc(64, 8)
			head, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 64, Write: true}}, 1)
			require.NoError(t, err)
			_, err = q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 64, Write: true}}, 2)
			require.NoError(t, err)
			q.KickPrepare()
			tc.inject(dq, head)
			var gerr error
			for range 3 {
				if _, _, gerr = q.Get(); gerr != nil {
					break
				}
			}
			require.ErrorIs(t, gerr, virtio.ErrDeviceBroken)
			require.ErrorContains(t, gerr, tc.msg)
			_, _, err = q.Get()
			require.ErrorIs(t, err, virtio.ErrDeviceBroken, "stays broken")
			_, err = q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8}}, 2)
			require.ErrorIs(t, err, virtio.ErrDeviceBroken)
		})
	}
}

// TestConcurrentDevice runs the device side in another goroutine: the indexes' atomics order
// descriptor and buffer contents (run with -race).
func TestConcurrentDevice(t *testing.T) {
	for name, kind := range kinds {
		t.Run(name, func(t *testing.T) { testConcurrentDevice(t, kind) })
	}
}

func testConcurrentDevice(t *testing.T, kind uint64) {
	q, dq, mem := queuePair(t, 64, kind|virtio.FeatureEventIdx, &virtio.QueueConfig{EventIdx: true})
	const n = 100000
	bufs, _ := mem.Alloc(64*8, 8)
	kick := make(chan struct{}, 1)
	irq := make(chan struct{}, 1)
	virtiotest.OnInterrupt(dq, func() {
		select {
		case irq <- struct{}{}:
		default:
		}
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // device: echo the first 8 readable bytes into the writable buffer
		defer wg.Done()
		var c virtiotest.Chain
		for done := 0; done < n; {
			ok, err := dq.Pop(&c)
			if err != nil {
				t.Error(err)
				return
			}
			if !ok {
				dq.Flush()
				if !dq.EnableNotify() {
					<-kick
				}
				continue
			}
			copy(c.Writable[0], c.Readable[0])
			dq.Push(c.Head, 8)
			done++
		}
		dq.Flush()
	}()
	sent, got := 0, 0
	for got < n {
		for sent < n && q.NumFree() >= 2 {
			slot := uint64(sent % 32)
			b := bufs.Buf[slot*16 : slot*16+8]
			for i := range b {
				b[i] = byte(sent + i)
			}
			_, err := q.Add([]virtio.Buffer{{Addr: bufs.Addr + slot*16, Len: 8}, {Addr: bufs.Addr + slot*16 + 8, Len: 8, Write: true}}, uint64(sent))
			require.NoError(t, err)
			sent++
			if q.KickPrepare() {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
		u, ok, err := q.Get()
		require.NoError(t, err)
		if !ok {
			if !q.EnableInterrupts() {
				<-irq
			}
			continue
		}
		require.Equal(t, uint64(got), u.Token)
		slot := u.Token % 32
		require.Equal(t, byte(u.Token), bufs.Buf[slot*16+8])
		got++
	}
	wg.Wait()
}

func TestQueueAllocs(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	for name, kind := range kinds {
		t.Run(name, func(t *testing.T) { testQueueAllocs(t, kind) })
	}
}

func testQueueAllocs(t *testing.T, kind uint64) {
	q, dq, mem := queuePair(t, 64, kind|virtio.FeatureIndirectDesc, &virtio.QueueConfig{Indirect: 4})
	b, _ := mem.Alloc(64, 8)
	chain := []virtio.Buffer{{Addr: b.Addr, Len: 8}, {Addr: b.Addr + 8, Len: 8, Write: true}}
	var c virtiotest.Chain
	got := allocs.Measure(1000, 0, func() {
		if _, err := q.Add(chain, 1); err != nil {
			panic(err)
		}
		q.KickPrepare()
		if ok, err := dq.Pop(&c); !ok || err != nil {
			panic(errors.Join(err, errors.New("nothing popped")))
		}
		dq.Push(c.Head, 8)
		dq.Flush()
		if _, ok, err := q.Get(); !ok || err != nil {
			panic(err)
		}
		q.EnableInterrupts()
	})
	require.Zero(t, got.Mallocs, "add, kick, pop, push, get: %v", got)
}

func BenchmarkRoundTrip(b *testing.B) {
	for name, kind := range kinds {
		b.Run(name, func(b *testing.B) { benchRoundTrip(b, kind) })
	}
}

func benchRoundTrip(b *testing.B, kind uint64) {
	q, dq, mem := queuePair(b, 256, kind|virtio.FeatureEventIdx, &virtio.QueueConfig{EventIdx: true})
	buf, _ := mem.Alloc(64, 8)
	chain := []virtio.Buffer{{Addr: buf.Addr, Len: 64, Write: true}}
	var c virtiotest.Chain
	b.ReportAllocs()
	for b.Loop() {
		_, _ = q.Add(chain, 1)
		q.KickPrepare()
		_, _ = dq.Pop(&c)
		dq.Push(c.Head, 64)
		dq.Flush()
		_, _, _ = q.Get()
	}
}

// TestPackedEventSuppression checks the packed ring's event suppression structures.
func TestPackedEventSuppression(t *testing.T) {
	q, dq, mem := queuePair(t, 8, virtio.FeatureRingPacked|virtio.FeatureEventIdx, &virtio.QueueConfig{EventIdx: true})
	b, _ := mem.Alloc(64, 8)
	add := func() {
		_, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8, Write: true}}, 0)
		require.NoError(t, err)
	}
	add()
	require.True(t, q.KickPrepare(), "device event starts as ENABLE")
	var c virtiotest.Chain
	ok, err := dq.Pop(&c)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, dq.EnableNotify(), "ring drained; device asks for a kick at position 1")
	add()
	require.True(t, q.KickPrepare())
	add()
	require.False(t, q.KickPrepare(), "position 1 already passed")

	irqs := 0
	virtiotest.CountInterrupts(dq, &irqs)
	q.DisableInterrupts()
	dq.Push(c.Head, 8)
	dq.Flush()
	require.Zero(t, irqs, "interrupts disabled")
	require.True(t, q.EnableInterrupts(), "a used buffer is pending")
	u, ok, err := q.Get()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint32(8), u.Len)
	require.False(t, q.EnableInterrupts())
	for range 2 {
		ok, err := dq.Pop(&c)
		require.NoError(t, err)
		require.True(t, ok)
		dq.Push(c.Head, 0)
	}
	dq.Flush()
	require.Equal(t, 1, irqs, "one interrupt for the batch crossing the driver's event")
}

// TestPackedResumeBase checks where a packed ring resumes with a new device: after the last
// used element the old device wrote, whether or not the driver has taken it, with the wrap
// counters of that lap.
func TestPackedResumeBase(t *testing.T) {
	q, dq, mem := queuePair(t, 4, virtio.FeatureRingPacked, nil)
	pq := q.(*virtio.PackedQueue)
	require.Equal(t, uint32(0x80008000), pq.ResumeBase(), "fresh ring: slot 0, wrap counters 1")
	b, _ := mem.Alloc(64, 8)
	use := func(n int) { // the device uses n chains in order
		for range n {
			var c virtiotest.Chain
			ok, err := dq.Pop(&c)
			require.NoError(t, err)
			require.True(t, ok)
			dq.Push(c.Head, 0)
		}
		dq.Flush()
	}
	for i := range 3 {
		_, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8}}, uint64(i))
		require.NoError(t, err)
	}
	q.KickPrepare()
	use(2)
	_, ok, err := q.Get()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint32(2|1<<15)*0x10001, pq.ResumeBase(), "after both used elements, one not yet taken")

	// Into the second lap: slots 3, 0, 1 hold chains 4-6; the device uses two of them.
	_, _, _ = q.Get()
	for i := range 3 {
		_, err := q.Add([]virtio.Buffer{{Addr: b.Addr, Len: 8}}, uint64(10+i))
		require.NoError(t, err)
	}
	q.KickPrepare()
	use(3) // the third chain left from the first lap, then two new ones
	require.Equal(t, uint32(1)*0x10001, pq.ResumeBase(), "slot 1 in the second lap: wrap counters 0")
}
