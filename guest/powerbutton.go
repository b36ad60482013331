package guest

import "encoding/binary"

// Linux input event constants (include/uapi/linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
)

// inputEventSize returns the size of struct input_event for a kernel whose long is longSize
// bytes: a time stamp of two longs, then type (u16), code (u16) and value (s32).
func inputEventSize(longSize int) int { return 2*longSize + 8 }

// isPowerPress reports whether ev, one struct input_event in native byte order, is the power
// key being pressed (value 1; 0 is the release, 2 autorepeat).
func isPowerPress(ev []byte, longSize int) bool {
	if len(ev) != inputEventSize(longSize) {
		return false
	}
	rest := ev[2*longSize:]
	typ := binary.NativeEndian.Uint16(rest[0:])
	code := binary.NativeEndian.Uint16(rest[2:])
	value := int32(binary.NativeEndian.Uint32(rest[4:]))
	return typ == evKey && code == keyPower && value == 1
}
