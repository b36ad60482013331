package xentest

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenbus"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// rxWait is how long the back end waits for the front end to post RX buffers before it drops
// a frame (Linux netback's rx_drain_timeout is 10 s; in-process a shorter stall suffices).
const rxWait = time.Second

// NetbackConfig configures a simulated netback. The zero value means: back end dom0, front
// end dom1, device 0, every feature on, up to 4 queues, no misbehaviour.
type NetbackConfig struct {
	Backend, Frontend xenfront.DomID
	DevID             int
	// MAC is the front end's address the toolstack writes; default 00:16:3e:00:00:01.
	MAC net.HardwareAddr
	// Feature switches: what the back end does not advertise. NoIPv6Csum leaves out
	// feature-ipv6-csum-offload: the back end then drops IPv6 packets whose checksum the
	// front end left pending, as a back end that cannot complete them does.
	NoSG, NoGSO, NoSplit, NoIPv6Csum bool
	// MaxQueues is multi-queue-max-queues; 0 means 4, 1 means no multi-queue key.
	MaxQueues int
	// Misbehave makes the back end break the protocol (see Misbehaviour).
	Misbehave Misbehaviour
	// MisbehaveAfter is how many frames pass correctly before the misbehaviour.
	MisbehaveAfter int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Netback simulates Linux xen-netback for one vif: the toolstack's xenstore keys, the back
// end's xenbus state machine, and the data path. Frames the front end transmits go to an
// outer link.Link and frames received on that link go to the front end, each copied with
// grant copies, as Linux netback does. It is the outer link's Receiver.
type Netback struct {
	h      *Hypervisor
	dom    *Domain
	cfg    NetbackConfig
	st     xenstore.Store
	feDir  string
	beDir  string
	link   link.Link
	log    *slog.Logger
	seed   maphash.Seed
	frames int // frames handled, for MisbehaveAfter; guarded by mu

	mu     sync.Mutex
	queues []*beQueue
	feGSO  bool // the front end takes TCPv4 GSO: feature-sg and feature-gso-tcpv4
	feGSO6 bool // and TCPv6 GSO: feature-sg, feature-gso-tcpv6 and feature-ipv6-csum-offload
	feSG   bool
	// feIPv6Csum: the front end takes IPv6 packets with pending checksums
	// (feature-ipv6-csum-offload); without it they are completed first, as Linux's stack
	// does for a vif without NETIF_F_IPV6_CSUM.
	feIPv6Csum bool
	mis        bool // misbehaviour already fired
	conns      int  // connections made
	maps       []*Mapping

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	kick    chan struct{} // wakes the state machine (Restart, Attach)
	restart bool
	probe   bool // Attach created the device again: netback_probe runs
}

// NewNetback writes the toolstack's keys for the vif, starts the back end's state machine
// and starts the outer link with the back end as its receiver.
func NewNetback(h *Hypervisor, link link.Link, cfg *NetbackConfig) (*Netback, error) {
	c := NetbackConfig{}
	if cfg != nil {
		c = *cfg
	}
	if c.Frontend == 0 && c.Backend == 0 {
		c.Frontend = 1
	}
	if c.MAC == nil {
		c.MAC = net.HardwareAddr{0x00, 0x16, 0x3e, 0, 0, 1}
	}
	if c.MaxQueues == 0 {
		c.MaxQueues = 4
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	nb := &Netback{h: h, dom: h.Domain(c.Backend), cfg: c, link: link, seed: maphash.MakeSeed(),
		done: make(chan struct{}), kick: make(chan struct{}, 1)}
	nb.st = nb.dom.Store()
	nb.log = c.Logger.With("netback", c.DevID)
	nb.feDir = fmt.Sprintf("/local/domain/%d/device/vif/%d", c.Frontend, c.DevID)
	nb.beDir = fmt.Sprintf("/local/domain/%d/backend/vif/%d/%d", c.Backend, c.Frontend, c.DevID)
	if err := nb.toolstackAdd(); err != nil {
		return nil, err
	}
	if err := nb.advertise(); err != nil {
		return nil, err
	}
	nb.ctx, nb.cancel = context.WithCancel(context.Background())
	if err := link.Start(nb); err != nil {
		nb.cancel()
		return nil, err
	}
	go nb.run()
	return nb, nil
}

// toolstackAdd writes the toolstack's keys of both directories in one transaction, with both
// ends Initialising and the back end online, as libxl__device_generic_add does.
func (nb *Netback) toolstackAdd() error {
	c := nb.cfg
	keys := map[string]string{
		nb.feDir + "/backend": nb.beDir, nb.feDir + "/backend-id": strconv.Itoa(int(c.Backend)),
		nb.feDir + "/mac": c.MAC.String(), nb.feDir + "/handle": strconv.Itoa(c.DevID),
		nb.feDir + "/state":    "1",
		nb.beDir + "/frontend": nb.feDir, nb.beDir + "/frontend-id": strconv.Itoa(int(c.Frontend)),
		nb.beDir + "/mac": c.MAC.String(), nb.beDir + "/handle": strconv.Itoa(c.DevID),
		nb.beDir + "/online": "1", nb.beDir + "/state": "1",
	}
	return nb.toolstack(func(tool xenstore.Store, tx xenstore.TxID) error {
		for k, v := range keys {
			if err := tool.Write(tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// toolstack runs change in a transaction of the toolstack's domain (0), redone on EAGAIN.
func (nb *Netback) toolstack(change func(tool xenstore.Store, tx xenstore.TxID) error) error {
	tool := nb.h.Domain(0).Store()
	for {
		tx, err := tool.Start()
		if err != nil {
			return err
		}
		if err := change(tool, tx); err != nil {
			_ = tool.End(tx, false)
			return err
		}
		if err := tool.End(tx, true); !errors.Is(err, xenstore.ErrAgain) {
			return err
		}
	}
}

// Detach removes the vif as xl network-detach does (libxl__initiate_device_remove, then
// libxl__device_destroy): in one transaction it writes the back end's online 0 and state
// Closing, waits for the back end to reach Closed (netback gets there once the front end
// answered Closed, and then lets go of the device, as it is offline), and removes the front
// end's and the back end's directories in one transaction. A back end still not Closed after
// timeout has its directories removed all the same, as libxl's forced removal does, and
// Detach reports it.
func (nb *Netback) Detach(timeout time.Duration) error {
	w, err := nb.h.Domain(0).Store().Watch(nb.beDir + "/state")
	if err != nil {
		return err
	}
	defer w.Close()
	err = nb.toolstack(func(tool xenstore.Store, tx xenstore.TxID) error {
		v, err := tool.Read(tx, nb.beDir+"/state")
		if err != nil || v == strconv.Itoa(int(xenbus.StateClosed)) {
			return err
		}
		if err := tool.Write(tx, nb.beDir+"/online", "0"); err != nil {
			return err
		}
		return tool.Write(tx, nb.beDir+"/state", strconv.Itoa(int(xenbus.StateClosing)))
	})
	if err != nil {
		return err
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var closeErr error
	for closeErr == nil && nb.State() != xenbus.StateClosed {
		select {
		case <-w.C:
		case <-deadline.C:
			closeErr = fmt.Errorf("xentest: back end still %v after %v; removed anyway", nb.State(), timeout)
		}
	}
	err = nb.toolstack(func(tool xenstore.Store, tx xenstore.TxID) error {
		for _, dir := range []string{nb.feDir, nb.beDir} {
			if err := tool.Remove(tx, dir); err != nil && !errors.Is(err, xenstore.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	return errors.Join(closeErr, err)
}

// Attach creates the vif again after Detach, as xl network-attach does with the same devid
// (libxl__device_nic_add): the toolstack's keys, the front end's with mac (nil: the
// previous one), then the back end probes the device (netback_probe): features and InitWait.
func (nb *Netback) Attach(mac net.HardwareAddr) error {
	nb.mu.Lock()
	if mac != nil {
		nb.cfg.MAC = mac
	}
	nb.mu.Unlock()
	if err := nb.toolstackAdd(); err != nil {
		return err
	}
	nb.mu.Lock()
	nb.probe = true
	nb.mu.Unlock()
	select {
	case nb.kick <- struct{}{}:
	default:
	}
	return nil
}

// Dir returns the front end's device directory, relative to its domain's home.
func (nb *Netback) Dir() string { return "device/vif/" + strconv.Itoa(nb.cfg.DevID) }

// advertise writes the back end's features and switches to InitWait (netback_probe).
func (nb *Netback) advertise() error {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	keys := [][2]string{{"feature-rx-copy", "1"}, {"feature-rx-flip", "0"},
		{"feature-sg", b(!nb.cfg.NoSG)}, {"feature-gso-tcpv4", b(!nb.cfg.NoGSO)},
		{"feature-gso-tcpv6", b(!nb.cfg.NoGSO)}, {"feature-ipv6-csum-offload", b(!nb.cfg.NoIPv6Csum)},
		{"feature-split-event-channels", b(!nb.cfg.NoSplit)}}
	if nb.cfg.MaxQueues > 1 {
		keys = append(keys, [2]string{"multi-queue-max-queues", strconv.Itoa(nb.cfg.MaxQueues)})
	}
	for _, kv := range keys {
		if err := nb.st.Write(0, nb.beDir+"/"+kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nb.setState(xenbus.StateInitWait)
}

// setState switches the back end's state key.
func (nb *Netback) setState(s xenbus.State) error {
	return xenbus.WriteState(nb.st, nb.beDir+"/state", s)
}

// State returns the back end's xenbus state.
func (nb *Netback) State() xenbus.State { return xenbus.ReadState(nb.st, nb.beDir+"/state") }

// Connections returns how many times a front end connected.
func (nb *Netback) Connections() int {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.conns
}

// Restart simulates the back end going away and coming back (a driver domain restart): it
// switches to Closing, and once the front end answered Closed, to Closed and then InitWait
// for a fresh connection.
func (nb *Netback) Restart() {
	nb.mu.Lock()
	nb.restart = true
	nb.mu.Unlock()
	select {
	case nb.kick <- struct{}{}:
	default:
	}
}

// run is the back end's state machine (netback's frontend_changed).
func (nb *Netback) run() {
	defer close(nb.done)
	w, err := nb.st.Watch(nb.feDir + "/state")
	if err != nil {
		nb.log.Error("netback: watch", "err", err)
		return
	}
	defer w.Close()
	registered := true // false once netback let go of the device (device_unregister)
	for {
		select {
		case <-nb.ctx.Done():
			nb.disconnect()
			return
		case <-w.C:
		case <-nb.kick:
		}
		nb.mu.Lock()
		restart, probe := nb.restart, nb.probe
		nb.restart, nb.probe = false, false
		nb.mu.Unlock()
		if probe {
			registered = true
			_ = nb.advertise()
			continue
		}
		if !registered {
			continue
		}
		be, fe := nb.State(), xenbus.ReadState(nb.st, nb.feDir+"/state")
		if restart && be == xenbus.StateConnected {
			nb.disconnect()
			_ = nb.setState(xenbus.StateClosing)
			continue
		}
		switch fe {
		case xenbus.StateInitialised, xenbus.StateConnected:
			if be == xenbus.StateInitWait {
				if err := nb.connect(); err != nil {
					nb.log.Warn("netback: connect failed", "err", err)
					nb.disconnect()
					_ = nb.setState(xenbus.StateClosing)
				} else {
					_ = nb.setState(xenbus.StateConnected)
				}
			}
		case xenbus.StateClosing:
			nb.disconnect()
			if be != xenbus.StateClosed {
				_ = nb.setState(xenbus.StateClosing)
			}
		case xenbus.StateClosed, xenbus.StateUnknown:
			nb.disconnect()
			if fe == xenbus.StateUnknown {
				// The front end's directory is gone: netback lets go of the device.
				registered = false
				continue
			}
			if be != xenbus.StateClosed {
				_ = nb.setState(xenbus.StateClosed)
			}
			if v, _ := nb.st.Read(0, nb.beDir+"/online"); v == "0" {
				// Offline: the toolstack is detaching the device (netback's frontend_changed
				// falls through to device_unregister).
				registered = false
			}
		case xenbus.StateInitialising:
			if be == xenbus.StateClosed {
				_ = nb.advertise()
			}
		}
	}
}

// readKey reads an untrusted number from the front end's directory.
func (nb *Netback) readKey(key string, max uint64) (uint64, error) {
	v, err := nb.st.Read(0, nb.feDir+"/"+key)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return xenstore.ParseUint(v, max)
}

// readFlag reads a boolean key from the front end's directory: only "1" is true.
func (nb *Netback) readFlag(key string) bool {
	n, err := nb.readKey(key, 1)
	return err == nil && n == 1
}

// connect maps the front end's rings and binds its event channels (netback's connect).
func (nb *Netback) connect() error {
	if !nb.readFlag("request-rx-copy") {
		return errors.New("front end did not request rx-copy")
	}
	nq := 1
	if nb.cfg.MaxQueues > 1 {
		if n, err := nb.readKey("multi-queue-num-queues", uint64(nb.cfg.MaxQueues)); err == nil {
			nq = int(n)
		}
	}
	nb.mu.Lock()
	// As Linux netback's read_xenbus_vif_flags and xenvif_fix_features, with the kernel's
	// rule that a device without an IPv6 checksum feature loses TSO6.
	nb.feSG = nb.readFlag("feature-sg")
	nb.feGSO = nb.readFlag("feature-gso-tcpv4") && nb.feSG
	nb.feIPv6Csum = nb.readFlag("feature-ipv6-csum-offload")
	nb.feGSO6 = nb.readFlag("feature-gso-tcpv6") && nb.feSG && nb.feIPv6Csum
	nb.mu.Unlock()
	var qs []*beQueue
	for i := range nq {
		prefix := ""
		if nq > 1 {
			prefix = "queue-" + strconv.Itoa(i) + "/"
		}
		q, err := nb.newQueue(i, prefix)
		if err != nil {
			for _, q := range qs {
				q.close()
			}
			return err
		}
		qs = append(qs, q)
	}
	nb.mu.Lock()
	nb.queues = qs
	nb.conns++
	nb.mu.Unlock()
	for _, q := range qs {
		q.start()
	}
	return nil
}

// disconnect stops the queues, unmaps the rings and closes the ports.
func (nb *Netback) disconnect() {
	nb.mu.Lock()
	qs := nb.queues
	nb.queues = nil
	nb.mu.Unlock()
	for _, q := range qs {
		q.close()
	}
}

// Close stops the back end and closes the outer link. It is idempotent. The outer link is
// closed first: that wakes a queue blocked in its Transmit (the far side not taking frames),
// which the back end's goroutines would otherwise wait for.
func (nb *Netback) Close() error {
	nb.once.Do(func() {
		nb.cancel()
		_ = nb.link.Close()
		<-nb.done
		nb.mu.Lock()
		for _, m := range nb.maps {
			m.Unmap()
		}
		nb.maps = nil
		nb.mu.Unlock()
	})
	return nil
}

// LinkStateChanged implements link.Receiver.
func (nb *Netback) LinkStateChanged(bool) {}

// DeliverFrames implements link.Receiver: frames from the outer link go to the front end.
// It waits up to a second for RX buffers and drops a frame the front end has no room for.
func (nb *Netback) DeliverFrames(frames []link.Frame) {
	defer nb.link.Release(frames)
	nb.mu.Lock()
	qs := nb.queues
	nb.mu.Unlock()
	for i := range frames {
		if len(qs) == 0 {
			return
		}
		q := qs[0]
		if len(qs) > 1 {
			q = qs[nb.queueFor(&frames[i], len(qs))]
		}
		q.receive(&frames[i])
	}
}

// queueFor chooses the queue of n for a frame from the outer link by hashing its IPv4
// addresses and ports.
func (nb *Netback) queueFor(f *link.Frame, n int) int {
	if len(f.Segments) == 0 || len(f.Segments[0]) < 38 {
		return 0
	}
	return int(maphash.Bytes(nb.seed, f.Segments[0][26:38]) % uint64(n))
}
