//go:build !linux

package pci

import (
	"errors"
	"fmt"
	"runtime"
)

// barMapping is a mapped BAR; there are none on this OS.
type barMapping struct{}

func (barMapping) bytes() []byte { return nil }

func (barMapping) unmap() error { return nil }

// mapResource is not implemented on this OS: BARs are mapped through Linux sysfs.
func mapResource(path string, size uint64) (barMapping, error) {
	return barMapping{}, fmt.Errorf("pci: mapping BARs is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
