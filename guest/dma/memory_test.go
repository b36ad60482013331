package dma

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/virtio"
)

// fakePages hands out batches of "huge pages" from the Go heap with the physical addresses
// the test chooses, one batch per grow.
type fakePages struct {
	batches [][]uint64 // physical address of each page, per batch, in ascending order
	grown   int
	asked   []int // pages asked for, per batch
	closed  bool
}

func (f *fakePages) grow(pages int) ([]run, error) {
	f.asked = append(f.asked, pages)
	if f.grown == len(f.batches) {
		return nil, ErrNoMemory
	}
	addrs := f.batches[f.grown]
	if len(addrs) != pages {
		return nil, fmt.Errorf("fake: %d pages asked for, the test prepared %d", pages, len(addrs))
	}
	f.grown++
	// Align the fake memory to a huge page, as the real mapping is.
	raw := make([]byte, (len(addrs)+1)*HugePageSize)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (HugePageSize - 1))
	mem := raw[off : off+len(addrs)*HugePageSize]
	for i := range mem {
		mem[i] = 0xa5 // Alloc must zero what it hands out
	}
	return splitRuns(mem, addrs), nil
}

func (f *fakePages) close() error { f.closed = true; return nil }

const mib = 1 << 20

func TestAllocWithinOnePage(t *testing.T) {
	src := &fakePages{batches: [][]uint64{{0x3c00000}}}
	m := &Memory{limit: 8 * mib, src: src}
	a, err := m.Alloc(100, 4096)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x3c00000), a.Addr)
	assert.Len(t, a.Buf, 100)
	assert.Equal(t, make([]byte, 100), a.Buf, "zeroed")
	b, err := m.Alloc(10, 64)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x3c00080), b.Addr, "next 64-byte boundary after 100 bytes")
	assert.Equal(t, uintptr(0x80), uintptr(unsafe.Pointer(&b.Buf[0]))-uintptr(unsafe.Pointer(&a.Buf[0])),
		"virtual and physical offsets agree")
	c, err := m.Alloc(3, 1)
	require.NoError(t, err)
	assert.Zero(t, c.Addr%8, "at least 8-byte aligned")
	assert.Equal(t, HugePageSize, m.Mapped())
	assert.Equal(t, 1, src.grown)
}

func TestAllocNeverCrossesADiscontinuity(t *testing.T) {
	// Two pages that are not adjacent: a 3 MiB allocation cannot be placed, and 1.5 MiB
	// allocations each take their own page.
	src := &fakePages{batches: [][]uint64{{0x200000, 0x800000}}}
	m := &Memory{limit: 4 * mib, src: src}
	_, err := m.Alloc(3*mib, 64)
	require.ErrorIs(t, err, ErrNoMemory)

	a, err := m.Alloc(3*mib/2, 64)
	require.NoError(t, err)
	b, err := m.Alloc(3*mib/2, 64)
	require.NoError(t, err)
	for _, d := range []virtio.DMA{a, b} {
		first := d.Addr / HugePageSize
		last := (d.Addr + uint64(len(d.Buf)) - 1) / HugePageSize
		assert.Equal(t, first, last, "allocation at %#x crosses a page", d.Addr)
	}
	assert.NotEqual(t, a.Addr/HugePageSize, b.Addr/HugePageSize)
}

func TestAllocSpansAdjacentPages(t *testing.T) {
	src := &fakePages{batches: [][]uint64{{0x1000000}, {0x4000000, 0x4200000, 0x4400000}}}
	m := &Memory{limit: 8 * mib, src: src}
	small, err := m.Alloc(4096, 4096)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x1000000), small.Addr)
	big, err := m.Alloc(5*mib, 64)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x4000000), big.Addr, "three adjacent pages hold 5 MiB")
	assert.Len(t, big.Buf, 5*mib)
	big.Buf[len(big.Buf)-1] = 1 // the whole slice is backed

	// Best fit: the run of three has 1 MiB left, the lone page almost 2 MiB.
	half, err := m.Alloc(mib/2, 64)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x4500000), half.Addr)
}

func TestAllocGrowsUpToTheLimit(t *testing.T) {
	src := &fakePages{batches: [][]uint64{{0x200000}, {0x600000, 0x800000}, {0xa00000}}}
	m := &Memory{limit: 6 * mib, src: src}
	_, err := m.Alloc(mib, 64)
	require.NoError(t, err)
	big, err := m.Alloc(3*mib, 64)
	require.NoError(t, err, "a second batch of two adjacent pages")
	assert.Equal(t, uint64(0x600000), big.Addr)
	assert.Equal(t, 6*mib, m.Mapped())
	_, err = m.Alloc(2*mib, 64)
	require.ErrorIs(t, err, ErrNoMemory, "the limit stops a fourth page")
	assert.Equal(t, 2, src.grown)
}

func TestAllocDoublesTheBatch(t *testing.T) {
	// 3 MiB needs two pages; the first two are not adjacent, so the next batch is four pages,
	// of which three are.
	src := &fakePages{batches: [][]uint64{{0x200000, 0x600000}, {0x1000000, 0x1600000, 0x1800000, 0x1a00000}}}
	m := &Memory{limit: 16 * mib, src: src}
	big, err := m.Alloc(3*mib, 64)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x1600000), big.Addr)
	assert.Equal(t, []int{2, 4}, src.asked)
	// The pages that could not hold it serve smaller allocations.
	small, err := m.Alloc(mib, 64)
	require.NoError(t, err)
	assert.Less(t, small.Addr, uint64(0x1000000)+2*mib)
	assert.Equal(t, 12*mib, m.Mapped())
}

func TestAllocRefuses(t *testing.T) {
	m := &Memory{limit: 2 * mib, src: &fakePages{batches: [][]uint64{{0x200000}}}}
	for _, tc := range []struct{ size, align int }{{-1, 8}, {8, 0}, {8, 3}, {8, -8}} {
		_, err := m.Alloc(tc.size, tc.align)
		require.Error(t, err, "%+v", tc)
	}
	_, err := m.Alloc(2*mib+1, 8)
	require.ErrorIs(t, err, ErrNoMemory)
	_, err = m.Alloc(2*mib, 8)
	require.NoError(t, err)
	_, err = m.Alloc(1, 8)
	require.ErrorIs(t, err, ErrNoMemory, "full")

	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "idempotent")
	_, err = m.Alloc(1, 8)
	require.Error(t, err, "closed")
	assert.True(t, m.src.(*fakePages).closed)
}

func TestSplitRuns(t *testing.T) {
	mem := make([]byte, 5*HugePageSize)
	runs := splitRuns(mem, []uint64{0x0, 0x200000, 0x600000, 0x800000, 0xa00000})
	require.Len(t, runs, 2)
	assert.Equal(t, uint64(0), runs[0].addr)
	assert.Len(t, runs[0].buf, 2*HugePageSize)
	assert.Equal(t, uint64(0x600000), runs[1].addr)
	assert.Len(t, runs[1].buf, 3*HugePageSize)
	assert.Equal(t, cap(runs[0].buf), len(runs[0].buf), "a run cannot be extended into the next")
}
