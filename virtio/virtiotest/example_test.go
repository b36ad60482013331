package virtiotest_test

import (
	"fmt"

	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// ExampleNewLoopbackDevice puts the virtio-net driver and the device model in front of one end
// of a pipe: the returned link is what a stack's NIC is given (netstack.Stack.AddNIC).
func ExampleNewLoopbackDevice() {
	a, b, err := pipe.New(nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	nic, err := virtiotest.NewLoopbackDevice(a) // takes ownership of a
	if err != nil {
		panic(err)
	}
	defer nic.Close()
	fmt.Println(nic.MAC(), nic.MTU(), nic.Up())
	// Output: 02:00:00:00:00:0a 1500 true
}
