package xentest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
	"github.com/unikit/unikit/xenfront/ring"
)

// beQueue is the back end of one queue pair: mapped rings, bound ports, a frame buffer.
type beQueue struct {
	nb             *Netback
	idx            int
	txMap, rxMap   *Mapping
	txPort, rxPort xenfront.Port
	split          bool

	txMu    sync.Mutex
	tx      *netif.TxBackRing
	txReqs  [netif.NrSlotsMin + 1]netif.TxRequest // the data requests of the packet at hand
	txBuf   []byte                                // its data
	txFrame [1]link.Frame
	txSeg   [1][]byte
	// txHeld are the responses TxRepeatID holds back until the next packet (txHeldN of them).
	txHeld  [netif.NrSlotsMin + 4]netif.TxResponse
	txHeldN int

	rxMu   sync.Mutex
	rx     *netif.RxBackRing
	rxKick chan struct{}
	// rxScratch holds a frame whose IPv6 checksum the back end completes for a front end
	// without feature-ipv6-csum-offload (at most the MTU: such a frame has no GSO type).
	rxScratch      [xenfront.PageSize]byte
	rxScratchSeg   [1][]byte
	rxScratchFrame link.Frame
	// rxJumped is set once the RX producer index was published out of range (ProducerJump):
	// the ring is left that way, as a later push of the true index would hide the jump
	// from a front end that had not looked yet. Guarded by rxMu.
	rxJumped bool
	// rxDeadline bounds awaitRxBuffers' waits, made once and reset for each. Guarded by rxMu.
	rxDeadline *time.Timer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// newQueue maps queue i's rings and binds its event channels from the keys under prefix.
func (nb *Netback) newQueue(i int, prefix string) (*beQueue, error) {
	fe := nb.cfg.Frontend
	q := &beQueue{nb: nb, idx: i, txBuf: make([]byte, link.MaxGSOSize), rxKick: make(chan struct{}, 1)}
	q.ctx, q.cancel = context.WithCancel(nb.ctx)
	txRef, err := nb.readKey(prefix+"tx-ring-ref", 1<<32-1)
	if err != nil {
		return nil, err
	}
	rxRef, err := nb.readKey(prefix+"rx-ring-ref", 1<<32-1)
	if err != nil {
		return nil, err
	}
	if q.txMap, err = nb.dom.Map(fe, xenfront.GrantRef(txRef), true); err != nil {
		return nil, fmt.Errorf("map TX ring: %w", err)
	}
	if q.rxMap, err = nb.dom.Map(fe, xenfront.GrantRef(rxRef), true); err != nil {
		q.close()
		return nil, fmt.Errorf("map RX ring: %w", err)
	}
	q.tx, _ = ring.NewBack[netif.TxRequest, netif.TxResponse](q.txMap.Page)
	q.rx, _ = ring.NewBack[netif.RxRequest, netif.RxResponse](q.rxMap.Page)
	ev := nb.dom.EventChannels()
	bind := func(key string) (xenfront.Port, error) {
		p, err := nb.readKey(prefix+key, 1<<32-1)
		if err != nil {
			return 0, err
		}
		return ev.BindInterdomain(fe, xenfront.Port(p))
	}
	if !nb.cfg.NoSplit {
		if q.txPort, err = bind("event-channel-tx"); err == nil {
			q.split = true
			if q.rxPort, err = bind("event-channel-rx"); err != nil {
				q.close()
				return nil, err
			}
			return q, nil
		}
	}
	if q.txPort, err = bind("event-channel"); err != nil {
		q.close()
		return nil, err
	}
	q.rxPort = q.txPort
	return q, nil
}

// rings says which of a queue's rings an event loop serves.
type rings uint8

const (
	txRing rings = 1 << iota
	rxRing
)

// start starts the event goroutines: one per event channel.
func (q *beQueue) start() {
	if q.split {
		q.wg.Add(2)
		go q.loop(q.txPort, txRing)
		go q.loop(q.rxPort, rxRing)
		return
	}
	q.wg.Add(1)
	go q.loop(q.txPort, txRing|rxRing)
}

// close stops the queue's goroutines, closes its ports and unmaps its rings.
func (q *beQueue) close() {
	q.once.Do(func() {
		q.cancel()
		q.wg.Wait()
		ev := q.nb.dom.EventChannels()
		if q.txPort != 0 {
			_ = ev.Close(q.txPort)
		}
		if q.rxPort != 0 && q.rxPort != q.txPort {
			_ = ev.Close(q.rxPort)
		}
		// Take the locks so no DeliverFrames is still writing through the mapping.
		q.rxMu.Lock()
		if q.rxMap != nil {
			q.rxMap.Unmap()
		}
		q.rxMu.Unlock()
		q.txMu.Lock()
		if q.txMap != nil {
			q.txMap.Unmap()
		}
		q.txMu.Unlock()
	})
}

// loop waits for events on port: TX events make it process the front end's requests, RX
// events wake a receive waiting for buffers.
func (q *beQueue) loop(port xenfront.Port, serves rings) {
	defer q.wg.Done()
	ev := q.nb.dom.EventChannels()
	for {
		if serves&txRing != 0 {
			if err := q.processTx(); err != nil {
				q.nb.log.Warn("netback: bad TX request; queue stopped", "err", err)
				return
			}
		}
		if serves&rxRing != 0 {
			select {
			case q.rxKick <- struct{}{}:
			default:
			}
		}
		if err := ev.Wait(q.ctx, port); err != nil {
			return
		}
	}
}
