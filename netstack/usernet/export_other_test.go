//go:build !linux

package usernet

// HostConnsPark says whether a relay direction whose source is a host connection parks.
const HostConnsPark = false

// KernelRegistrations is 0: host connections park only on Linux.
func KernelRegistrations(*Network) int { return 0 }
