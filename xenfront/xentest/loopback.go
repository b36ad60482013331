package xentest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// handshakeTimeout bounds the netfront handshake against the simulated back end.
const handshakeTimeout = 10 * time.Second

// LoopbackConfig configures OpenLoopback; nil or the zero value means the defaults.
type LoopbackConfig struct {
	// Netback configures the simulated back end.
	Netback NetbackConfig
	// Queues is how many queue pairs netfront asks for; default 1.
	Queues int
	// NoGSO disables segmentation offload in netfront.
	NoGSO bool
	// DirectStore gives netfront the simulated xenstore directly instead of a xenstore
	// client speaking the wire protocol over a shared ring page, as a PV/PVH guest does.
	DirectStore bool
}

// Loopback is a netfront Link whose back end is a simulated netback in the same process,
// which forwards frames to and from another link.Link: the driver runs exactly as in a
// Xen guest, over grant tables, event channels, xenstore and shared rings.
type Loopback struct {
	*netfront.Link

	// Hypervisor and Netback are the simulated Xen and back end, for tests.
	Hypervisor *Hypervisor
	Netback    *Netback

	client    *xenstore.Client
	server    *xenstore.Ring
	served    chan struct{}
	closeOnce sync.Once
}

// NewLoopback puts netfront, against a simulated netback, in front of backend: what the
// returned link transmits, backend transmits, and what backend receives, the returned link
// receives. It takes ownership of backend and closes it in Close. This is what
// "-net user,nic=xen" uses.
func NewLoopback(backend link.Link) (link.Link, error) {
	return OpenLoopback(backend, nil)
}

// OpenLoopback is NewLoopback with configuration.
func OpenLoopback(backend link.Link, cfg *LoopbackConfig) (*Loopback, error) {
	var c LoopbackConfig
	if cfg != nil {
		c = *cfg
	}
	h := New()
	nb, err := NewNetback(h, backend, &c.Netback)
	if err != nil {
		backend.Close()
		return nil, err
	}
	lb := &Loopback{Hypervisor: h, Netback: nb}
	fe := h.Domain(nb.cfg.Frontend)
	store := fe.Store()
	if !c.DirectStore {
		if store, err = lb.connectStore(h, nb.cfg.Frontend, nb.cfg.Backend); err != nil {
			nb.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	l, err := netfront.Open(ctx, &netfront.Config{Grants: fe.GrantTable(), Events: fe.EventChannels(),
		Store: store, Dir: nb.Dir(), Queues: c.Queues, NoGSO: c.NoGSO, Logger: nb.cfg.Logger})
	if err != nil {
		lb.closeStore()
		nb.Close()
		return nil, err
	}
	lb.Link = l
	return lb, nil
}

// connectStore connects a xenstore client for domain fe over a shared ring page to the simulated
// xenstored in domain be.
func (lb *Loopback) connectStore(h *Hypervisor, fe, be xenfront.DomID) (xenstore.Store, error) {
	page := make([]byte, xenfront.PageSize)
	fev, bev := h.Domain(fe).EventChannels(), h.Domain(be).EventChannels()
	fp, err := fev.AllocUnbound(be)
	if err != nil {
		return nil, err
	}
	bp, err := bev.BindInterdomain(fe, fp)
	if err != nil {
		return nil, err
	}
	guest, err := xenstore.NewRing(page, fev, fp, false)
	if err != nil {
		return nil, err
	}
	lb.server, err = xenstore.NewRing(page, bev, bp, true)
	if err != nil {
		guest.Close()
		return nil, err
	}
	lb.served = make(chan struct{})
	go func() {
		defer close(lb.served)
		_ = h.Xenstored().Serve(lb.server, fe)
	}()
	lb.client = xenstore.NewClient(guest)
	return lb.client, nil
}

// closeStore closes the xenstore client connectStore made, if any, and its server.
func (lb *Loopback) closeStore() {
	if lb.client != nil {
		lb.client.Close()
		lb.server.Close()
		<-lb.served
	}
}

// Close closes netfront, the simulated back end and the backend link. It is idempotent.
func (lb *Loopback) Close() error {
	var err error
	lb.closeOnce.Do(func() {
		err = errors.Join(lb.Link.Close(), lb.Netback.Close())
		lb.closeStore()
	})
	return err
}
