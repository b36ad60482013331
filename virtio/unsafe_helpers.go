package virtio

import (
	"crypto/rand"
	"unsafe"
)

// uintptrOf returns the address of b's first byte.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// randRead fills b with random bytes.
func randRead(b []byte) (int, error) { return rand.Read(b) }
