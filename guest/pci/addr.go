package pci

import (
	"errors"
	"fmt"
)

// ErrBadDevice is returned when sysfs describes a function in a way this package does not
// accept: a malformed file, a BAR that is not a plausible memory BAR, a file of the wrong size.
var ErrBadDevice = errors.New("pci: bad device description")

// Addr is the address of a PCI function: domain, bus, device and function.
type Addr struct {
	Domain   uint16
	Bus      uint8
	Device   uint8 // 0 to 31
	Function uint8 // 0 to 7
}

// ParseAddr parses a function address as sysfs names it, "DDDD:BB:DD.F" in lower- or
// upper-case hexadecimal ("0000:00:03.0"); the domain may be left out ("00:03.0").
func ParseAddr(s string) (Addr, error) {
	var a Addr
	if len(s) == len("00:00.0") {
		s = "0000:" + s
	}
	if len(s) != len("0000:00:00.0") || s[4] != ':' || s[7] != ':' || s[10] != '.' {
		return a, fmt.Errorf("pci: address %q: want DDDD:BB:DD.F", s)
	}
	dom, ok1 := parseHex(s[0:4])
	bus, ok2 := parseHex(s[5:7])
	dev, ok3 := parseHex(s[8:10])
	fn, ok4 := parseHex(s[11:12])
	if !ok1 || !ok2 || !ok3 || !ok4 || dev > 31 || fn > 7 {
		return a, fmt.Errorf("pci: address %q: want DDDD:BB:DD.F with device <= 1f and function <= 7", s)
	}
	return Addr{Domain: uint16(dom), Bus: uint8(bus), Device: uint8(dev), Function: uint8(fn)}, nil
}

// String returns the address as sysfs names it: "0000:00:03.0".
func (a Addr) String() string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", a.Domain, a.Bus, a.Device, a.Function)
}

// parseHex parses hexadecimal digits without prefix or sign, up to 16 of them.
func parseHex(s string) (uint64, bool) {
	if s == "" || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range []byte(s) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}
