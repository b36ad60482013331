//go:build !linux

package kmod

import (
	"errors"
	"fmt"
	"runtime"
)

// Load is not implemented on this OS: kernel modules are a Linux notion.
func (ix *Index) Load(names ...string) error {
	if _, err := ix.Order(names...); err != nil {
		return err
	}
	return fmt.Errorf("kmod: loading modules is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
