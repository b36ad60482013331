//go:build !linux

package dma

import (
	"errors"
	"fmt"
	"runtime"
)

// OpenHugepages is not implemented on this OS: it needs Linux hugetlbfs and pagemap.
func OpenHugepages(cfg *Config) (*Memory, error) {
	return nil, fmt.Errorf("dma: huge page DMA memory is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
