package dma

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpenHugepages returns a Memory that maps 2 MiB pages from the hugetlbfs mount cfg.Dir as
// allocations need them. Nothing is mapped until the first Alloc. It fails if cfg.Dir is not
// hugetlbfs with 2 MiB pages.
func OpenHugepages(cfg *Config) (*Memory, error) {
	c := cfg.withDefaults()
	var st unix.Statfs_t
	if err := unix.Statfs(c.Dir, &st); err != nil {
		return nil, fmt.Errorf("dma: %s: %w", c.Dir, err)
	}
	if uint32(st.Type) != unix.HUGETLBFS_MAGIC || st.Bsize != HugePageSize {
		return nil, fmt.Errorf("dma: %s is not hugetlbfs with 2 MiB pages (type %#x, page size %d)",
			c.Dir, uint32(st.Type), st.Bsize)
	}
	return &Memory{limit: c.Limit, src: &hugetlbfs{cfg: c}}, nil
}

// hugetlbfs maps batches of huge pages from files in a hugetlbfs mount.
type hugetlbfs struct {
	cfg      Config
	mappings [][]byte
}

// grow maps a batch of pages, physically sorted, and returns its runs.
func (h *hugetlbfs) grow(pages int) ([]run, error) {
	if err := h.reserve(pages); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(h.cfg.Dir, "dma-*")
	if err != nil {
		return nil, fmt.Errorf("dma: %w", err)
	}
	defer f.Close() // the mappings keep the pages
	if err := os.Remove(f.Name()); err != nil {
		return nil, fmt.Errorf("dma: %w", err)
	}
	length := pages * HugePageSize
	if err := f.Truncate(int64(length)); err != nil {
		return nil, fmt.Errorf("dma: sizing %d huge pages: %w", pages, err)
	}
	mem, err := mmap(int(f.Fd()), 0, nil, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("dma: mapping %d huge pages: %w", pages, err)
	}
	addrs, err := h.physAddrs(mem)
	if err != nil {
		munmap(mem)
		return nil, err
	}
	// order[j] is the page of the file that goes j-th: sorted by physical address.
	order := make([]int, pages)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case addrs[a] < addrs[b]:
			return -1
		case addrs[a] > addrs[b]:
			return 1
		}
		return 0
	})
	if !slices.IsSorted(order) {
		sorted, err := remapSorted(int(f.Fd()), order)
		munmap(mem)
		if err != nil {
			return nil, err
		}
		mem = sorted
		if addrs, err = h.physAddrs(mem); err != nil {
			munmap(mem)
			return nil, err
		}
		if !slices.IsSorted(addrs) {
			munmap(mem)
			return nil, errors.New("dma: huge pages not in physical order after remapping")
		}
	}
	if err := unix.Mlock(mem); err != nil {
		munmap(mem)
		return nil, fmt.Errorf("dma: locking huge pages: %w", err)
	}
	h.mappings = append(h.mappings, mem)
	return splitRuns(mem, addrs), nil
}

// remapSorted maps the huge pages of the file fd into one new virtually contiguous region in
// the given order of file pages.
func remapSorted(fd int, order []int) ([]byte, error) {
	length := len(order) * HugePageSize
	// Reserve an address range with room to align it to a huge page, then map each page over
	// it with MAP_FIXED and give back the unaligned ends.
	resv, err := mmap(-1, 0, nil, length+HugePageSize, unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("dma: reserving address space: %w", err)
	}
	head := int(-uintptrOf(resv) & (HugePageSize - 1))
	if head > 0 {
		munmap(resv[:head])
	}
	if tail := resv[head+length:]; len(tail) > 0 {
		munmap(tail)
	}
	mem := resv[head : head+length : head+length]
	for j, page := range order {
		_, err := mmap(fd, int64(page)*HugePageSize, unsafe.Pointer(&mem[j*HugePageSize]),
			HugePageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED|unix.MAP_POPULATE)
		if err != nil {
			munmap(mem)
			return nil, fmt.Errorf("dma: remapping a huge page: %w", err)
		}
	}
	return mem, nil
}

// physAddrs returns the physical address of each huge page of mem, checking through pagemap
// that each is physically contiguous and aligned as a huge page is.
func (h *hugetlbfs) physAddrs(mem []byte) ([]uint64, error) {
	f, err := os.Open(filepath.Join(h.cfg.ProcRoot, "self/pagemap"))
	if err != nil {
		return nil, fmt.Errorf("dma: %w", err)
	}
	defer f.Close()
	pageSize := os.Getpagesize()
	perHuge := HugePageSize / pageSize
	entries := make([]byte, 8*perHuge)
	addrs := make([]uint64, len(mem)/HugePageSize)
	for i := range addrs {
		va := uintptrOf(mem) + uintptr(i*HugePageSize)
		if _, err := f.ReadAt(entries, int64(va/uintptr(pageSize))*8); err != nil {
			return nil, fmt.Errorf("dma: reading pagemap: %w", err)
		}
		for k := range perHuge {
			e := PagemapEntry(binary.NativeEndian.Uint64(entries[8*k:]))
			pa, err := PhysAddr(e, va+uintptr(k*pageSize), pageSize)
			if err != nil {
				return nil, err
			}
			if k == 0 {
				if pa%HugePageSize != 0 {
					return nil, fmt.Errorf("dma: huge page at physical %#x is not 2 MiB aligned", pa)
				}
				addrs[i] = pa
			} else if pa != addrs[i]+uint64(k*pageSize) {
				return nil, fmt.Errorf("dma: huge page at physical %#x is not contiguous", addrs[i])
			}
		}
	}
	return addrs, nil
}

// reserve makes sure the kernel's pool has pages free 2 MiB pages, growing vm.nr_hugepages
// unless the configuration says not to.
func (h *hugetlbfs) reserve(pages int) error {
	dir := filepath.Join(h.cfg.SysRoot, "kernel/mm/hugepages/hugepages-2048kB")
	free, err := readCount(filepath.Join(dir, "free_hugepages"))
	if err != nil || free >= pages || h.cfg.NoReserve {
		return nil // mmap reports the shortage itself
	}
	total, err := readCount(filepath.Join(dir, "nr_hugepages"))
	if err != nil {
		return nil
	}
	want := total + pages - free
	if err := os.WriteFile(filepath.Join(dir, "nr_hugepages"), []byte(strconv.Itoa(want)), 0); err != nil {
		return fmt.Errorf("dma: growing the huge page pool to %d pages: %w", want, err)
	}
	if free, err = readCount(filepath.Join(dir, "free_hugepages")); err == nil && free < pages {
		return fmt.Errorf("%w: the kernel has %d free 2 MiB pages, %d wanted (more memory, or hugepages=N on the kernel command line)",
			ErrNoMemory, free, pages)
	}
	return nil
}

// readCount reads a sysfs file holding one decimal number.
func readCount(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// close unmaps every batch.
func (h *hugetlbfs) close() error {
	var errs []error
	for _, m := range h.mappings {
		errs = append(errs, munmap(m))
	}
	h.mappings = nil
	return errors.Join(errs...)
}

// mmap maps length bytes like mmap(2) and returns them as a slice. Unlike unix.Mmap it takes
// an address, and its mappings may be unmapped in parts with munmap.
func mmap(fd int, off int64, addr unsafe.Pointer, length, prot, flags int) ([]byte, error) {
	p, err := unix.MmapPtr(fd, off, addr, uintptr(length), prot, flags)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), length), nil
}

// munmap unmaps the pages of b, which mmap returned or which is part of what it returned.
func munmap(b []byte) error {
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}
