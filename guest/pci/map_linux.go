package pci

import (
	"os"

	"golang.org/x/sys/unix"
)

// barMapping is a BAR's resourceN file mapped shared and read-write.
type barMapping struct{ mem []byte }

func (m barMapping) bytes() []byte { return m.mem }

func (m barMapping) unmap() error { return unix.Munmap(m.mem) }

// mapResource maps size bytes of the resource file at path, rounded up to whole pages as
// mmap requires (the kernel allows a mapping of the BAR's pages, pci_mmap_fits).
func mapResource(path string, size uint64) (barMapping, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return barMapping{}, err
	}
	defer f.Close() // the mapping outlives the descriptor
	page := uint64(os.Getpagesize())
	length := (size + page - 1) &^ (page - 1)
	mem, err := unix.Mmap(int(f.Fd()), 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return barMapping{}, err
	}
	return barMapping{mem: mem}, nil
}
