package pipe_test

import (
	"fmt"
	"log"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// collector is a link.Receiver that hands each frame's length to a channel.
type collector struct {
	link *pipe.Link
	lens chan int
}

func (c *collector) DeliverFrames(frames []link.Frame) {
	for i := range frames {
		c.lens <- frames[i].Len()
	}
	c.link.Release(frames)
}

func (c *collector) LinkStateChanged(bool) {}

// A pipe with seeded impairments: a quarter of the frames are lost, and the same seed loses
// the same frames on every run.
func ExampleNew() {
	a, b, err := pipe.New(&pipe.Config{Impair: pipe.Impairments{Seed: 7, Loss: 0.25}})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	rx := &collector{link: b, lens: make(chan int, 100)}
	b.Start(rx)
	a.Start(&collector{link: a, lens: make(chan int, 100)})

	frame := make([]byte, 60)
	for range 100 {
		a.Transmit([]link.Frame{{Segments: [][]byte{frame}}})
	}
	received := 0
	for {
		select {
		case <-rx.lens:
			received++
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	fmt.Println(received+int(a.Stats().TxDropped) == 100, received < 100)
	// Output: true true
}
