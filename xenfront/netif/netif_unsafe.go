package netif

import "unsafe"

// txBytes and rxBytes view a slot struct as the bytes of the C union it is part of.
func txBytes(r *TxRequest) *[12]byte { return (*[12]byte)(unsafe.Pointer(r)) }
func rxBytes(r *RxResponse) *[8]byte { return (*[8]byte)(unsafe.Pointer(r)) }
