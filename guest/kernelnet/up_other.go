//go:build !linux

package kernelnet

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// Interface is a configured network interface; on this OS [Up] makes none.
type Interface struct{}

// Up is not implemented on this OS: it configures Linux's stack.
func Up(ctx context.Context, cfg *Config) (*Interface, error) {
	return nil, fmt.Errorf("kernelnet: configuring a kernel interface is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Name returns the interface's name.
func (i *Interface) Name() string { return "" }

// Lease returns the interface's current lease.
func (i *Interface) Lease() Lease { return Lease{} }

// Close does nothing.
func (i *Interface) Close() error { return nil }
