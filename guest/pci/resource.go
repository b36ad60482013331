package pci

import (
	"fmt"
	"math/bits"
	"strings"
)

// Resource flags as the kernel reports them in the sysfs "resource" file
// (include/linux/ioport.h).
const (
	ResourceIO       = 0x00000100 // an I/O port BAR
	ResourceMem      = 0x00000200 // a memory BAR
	ResourcePrefetch = 0x00002000 // prefetchable memory
	ResourceMem64    = 0x00100000 // a 64-bit memory BAR
	ResourceDisabled = 0x10000000
	ResourceUnset    = 0x20000000 // no address assigned
)

// NumBARs is the number of base address registers of a PCI function (type 0 header).
const NumBARs = 6

// MaxBARSize is the largest BAR this package maps. A virtio-pci BAR is 16 KiB; the limit
// stops a lying device from making the driver map gigabytes.
const MaxBARSize = 1 << 30

// minBARSize is the smallest memory BAR the PCI specification allows.
const minBARSize = 16

// Resource is one line of a function's sysfs "resource" file: a BAR's bus window as the
// kernel assigned it.
type Resource struct {
	Start, End uint64
	Flags      uint64
}

// Size returns the number of bytes the resource spans, 0 for an empty line.
func (r Resource) Size() uint64 {
	if r.Start == 0 && r.End == 0 {
		return 0
	}
	return r.End - r.Start + 1
}

// Check reports whether r is a BAR this package maps, given the size of its resourceN file:
// an enabled, assigned memory BAR (not I/O) of a power-of-two size between 16 bytes and
// [MaxBARSize] whose file is exactly as long. Errors wrap [ErrBadDevice].
func (r Resource) Check(fileSize int64) error {
	switch {
	case r.Flags&ResourceIO != 0:
		return fmt.Errorf("%w: an I/O port BAR cannot be mapped", ErrBadDevice)
	case r.Flags&ResourceMem == 0:
		return fmt.Errorf("%w: not a memory BAR (flags %#x)", ErrBadDevice, r.Flags)
	case r.Flags&(ResourceDisabled|ResourceUnset) != 0:
		return fmt.Errorf("%w: BAR disabled or unassigned (flags %#x)", ErrBadDevice, r.Flags)
	case r.End < r.Start:
		return fmt.Errorf("%w: BAR ends at %#x before it starts at %#x", ErrBadDevice, r.End, r.Start)
	}
	size := r.End - r.Start + 1 // cannot overflow to 0 unless the BAR spans 2^64 bytes
	switch {
	case size < minBARSize || size > MaxBARSize || bits.OnesCount64(size) != 1:
		return fmt.Errorf("%w: BAR of %#x bytes", ErrBadDevice, size)
	case fileSize < 0 || uint64(fileSize) != size:
		return fmt.Errorf("%w: BAR of %#x bytes but its resource file has %d", ErrBadDevice, size, fileSize)
	}
	return nil
}

// maxResourceLines bounds the "resource" file: the kernel writes PCI_NUM_RESOURCES lines
// (6 BARs, the ROM, bridge windows, and SR-IOV BARs where configured: 13 on Debian's 6.1 x86
// kernel in QEMU).
const maxResourceLines = 64

// ParseResources parses a sysfs "resource" file: one line per resource, three
// 0x-prefixed hexadecimal numbers (start, end, flags) separated by single spaces. At least
// the six BAR lines must be present; anything malformed is an error wrapping [ErrBadDevice].
func ParseResources(b []byte) ([]Resource, error) {
	text := strings.TrimSuffix(string(b), "\n")
	if text == "" {
		return nil, fmt.Errorf("%w: empty resource file", ErrBadDevice)
	}
	var rs []Resource
	for line := range strings.SplitSeq(text, "\n") {
		if len(rs) == maxResourceLines {
			return nil, fmt.Errorf("%w: more than %d resource lines", ErrBadDevice, maxResourceLines)
		}
		f := strings.Split(line, " ")
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: resource line %q", ErrBadDevice, line)
		}
		var v [3]uint64
		for i, s := range f {
			h, ok := strings.CutPrefix(s, "0x")
			n, ok2 := parseHex(h)
			if !ok || !ok2 {
				return nil, fmt.Errorf("%w: resource line %q", ErrBadDevice, line)
			}
			v[i] = n
		}
		rs = append(rs, Resource{Start: v[0], End: v[1], Flags: v[2]})
	}
	if len(rs) < NumBARs {
		return nil, fmt.Errorf("%w: %d resource lines, want at least %d", ErrBadDevice, len(rs), NumBARs)
	}
	return rs, nil
}
