package dma

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// hugetlbfsForTest mounts hugetlbfs with 2 MiB pages in a temporary directory. It skips unless
// the test runs as root and the kernel has at least pages free 2 MiB pages: the test does not
// grow the host's pool (vm.nr_hugepages) itself.
func hugetlbfsForTest(t *testing.T, pages int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount hugetlbfs")
	}
	b, err := os.ReadFile("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
	if err != nil {
		t.Skipf("no 2 MiB huge pages: %v", err)
	}
	if free, _ := strconv.Atoi(strings.TrimSpace(string(b))); free < pages {
		t.Skipf("needs %d free 2 MiB huge pages (sysctl vm.nr_hugepages=%d); the guest boot tests cover this", pages, pages)
	}
	dir := t.TempDir()
	require.NoError(t, unix.Mount("hugetlbfs", dir, "hugetlbfs", 0, "pagesize=2M"))
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func TestHugepages(t *testing.T) {
	dir := hugetlbfsForTest(t, 3)
	m, err := OpenHugepages(&Config{Dir: dir, Limit: 3 * HugePageSize, NoReserve: true})
	require.NoError(t, err)
	defer m.Close()

	ring, err := m.Alloc(4096, 4096)
	require.NoError(t, err)
	assert.Zero(t, ring.Addr%4096)
	assert.Zero(t, uintptrOf(ring.Buf)%4096)
	// The address is the one pagemap gives for the slice, byte for byte.
	pa, err := physAddrOf(ring.Buf[100:])
	require.NoError(t, err)
	assert.Equal(t, ring.Addr+100, pa)
	for i := range ring.Buf {
		ring.Buf[i] = byte(i)
	}

	// Two more pages in a second batch; if the kernel gave adjacent frames, a 3 MiB
	// allocation fits, otherwise it must be refused rather than cross a discontinuity.
	big, err := m.Alloc(3*HugePageSize/2, 64)
	if err == nil {
		last, err := physAddrOf(big.Buf[len(big.Buf)-1:])
		require.NoError(t, err)
		assert.Equal(t, big.Addr+uint64(len(big.Buf))-1, last, "physically contiguous")
		t.Logf("3 MiB at physical %#x", big.Addr)
	} else {
		t.Logf("the second batch's pages are not adjacent: %v", err)
		require.ErrorIs(t, err, ErrNoMemory)
	}
	require.NoError(t, m.Close())
}

func TestOpenHugepagesRefusesOtherFilesystems(t *testing.T) {
	_, err := OpenHugepages(&Config{Dir: t.TempDir()})
	require.ErrorContains(t, err, "not hugetlbfs")
}

// physAddrOf reads the physical address of b's first byte from pagemap.
func physAddrOf(b []byte) (uint64, error) {
	h := &hugetlbfs{cfg: (*Config)(nil).withDefaults()}
	off := int(uintptrOf(b) & (HugePageSize - 1))
	page := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), -off)), HugePageSize)
	addrs, err := h.physAddrs(page)
	if err != nil {
		return 0, err
	}
	return addrs[0] + uint64(off), nil
}
