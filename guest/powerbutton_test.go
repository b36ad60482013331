package guest

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

// inputEvent encodes a struct input_event for a kernel with longSize-byte longs.
func inputEvent(longSize int, typ, code uint16, value int32) []byte {
	ev := make([]byte, inputEventSize(longSize))
	binary.NativeEndian.PutUint32(ev, 1234) // a time stamp, ignored
	rest := ev[2*longSize:]
	binary.NativeEndian.PutUint16(rest[0:], typ)
	binary.NativeEndian.PutUint16(rest[2:], code)
	binary.NativeEndian.PutUint32(rest[4:], uint32(value))
	return ev
}

func TestIsPowerPress(t *testing.T) {
	assert.Equal(t, 24, inputEventSize(8))
	assert.Equal(t, 16, inputEventSize(4))
	for _, long := range []int{8, 4} {
		assert.True(t, isPowerPress(inputEvent(long, evKey, keyPower, 1), long))
		assert.False(t, isPowerPress(inputEvent(long, evKey, keyPower, 0), long), "release")
		assert.False(t, isPowerPress(inputEvent(long, evKey, keyPower, 2), long), "autorepeat")
		assert.False(t, isPowerPress(inputEvent(long, evKey, 30, 1), long), "KEY_A")
		assert.False(t, isPowerPress(inputEvent(long, 0, 0, 0), long), "EV_SYN")
		assert.False(t, isPowerPress(inputEvent(long, 0x02, keyPower, 1), long), "EV_REL")
		assert.False(t, isPowerPress(inputEvent(long, evKey, keyPower, 1)[:10], long), "short read")
	}
	assert.False(t, isPowerPress(inputEvent(4, evKey, keyPower, 1), 8), "wrong layout")
}
