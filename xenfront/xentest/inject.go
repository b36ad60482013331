package xentest

import (
	"errors"

	"github.com/unikit/unikit/xenfront/netif"
)

// InjectRx writes rsps, unchecked, into queue qi's next RX response slots and publishes the
// response producer index jump entries further than that: a fuzzer's malicious back end.
// Consumed reports when the front end has taken them.
func (nb *Netback) InjectRx(qi int, rsps []netif.RxResponse, jump uint32) error {
	q, err := nb.queue(qi)
	if err != nil {
		return err
	}
	q.rxMu.Lock()
	for i := range rsps {
		q.rx.PutResponse(&rsps[i])
	}
	q.rx.RspProdPvt += jump
	q.rx.ReqCons = q.rx.RspProdPvt
	q.rx.SetResponseProducer(q.rx.RspProdPvt)
	q.rxMu.Unlock()
	// The front end may see the responses before the event, fail and close the channel.
	_ = nb.dom.EventChannels().Notify(q.rxPort)
	return nil
}

// InjectTx is InjectRx for the TX ring.
func (nb *Netback) InjectTx(qi int, rsps []netif.TxResponse, jump uint32) error {
	q, err := nb.queue(qi)
	if err != nil {
		return err
	}
	q.txMu.Lock()
	for i := range rsps {
		q.tx.PutResponse(&rsps[i])
	}
	q.tx.RspProdPvt += jump
	q.tx.SetResponseProducer(q.tx.RspProdPvt)
	q.txMu.Unlock()
	_ = nb.dom.EventChannels().Notify(q.txPort)
	return nil
}

// Consumed reports whether the front end has consumed every response on queue qi's rings and
// re-armed its event index (rsp_event = rsp_prod + 1), as the ring protocol shows it.
func (nb *Netback) Consumed(qi int) bool {
	q, err := nb.queue(qi)
	if err != nil {
		return false
	}
	q.rxMu.Lock()
	rx := q.rx.ResponseEvent() == q.rx.RspProdPvt+1
	q.rxMu.Unlock()
	q.txMu.Lock()
	tx := q.tx.ResponseEvent() == q.tx.RspProdPvt+1 || q.tx.RspProdPvt == 0
	q.txMu.Unlock()
	return rx && tx
}

// queue returns connected queue i.
func (nb *Netback) queue(i int) (*beQueue, error) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if i < 0 || i >= len(nb.queues) {
		return nil, errors.New("xentest: no such queue, or not connected")
	}
	return nb.queues[i], nil
}
