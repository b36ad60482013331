package linuxdom

import "errors"

// Errors of the package.
var (
	// ErrNoDevice is returned when a /dev/xen device cannot be opened: not a Xen domain, the
	// driver (xen-gntalloc, xen-evtchn, xenfs) not loaded, or no permission.
	ErrNoDevice = errors.New("linuxdom: Xen device not available")
	// ErrDevice is returned when a device answers something impossible.
	ErrDevice = errors.New("linuxdom: unexpected answer from a Xen device")
	// ErrUnsupported is returned on an operating system or architecture the package does not
	// support (it supports Linux on 386, amd64, arm and arm64).
	ErrUnsupported = errors.New("linuxdom: only supported on Linux (386, amd64, arm, arm64)")
)
