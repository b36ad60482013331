package netfront

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// maxQueues bounds multi-queue-max-queues, an untrusted value from the back end.
const maxQueues = 16

// maxTxnRetries bounds how often a transaction is redone after EAGAIN.
const maxTxnRetries = 16

// device is what the toolstack wrote in the front end's directory.
type device struct {
	backend   string
	backendID xenfront.DomID
	mac       net.HardwareAddr
}

// backendFeatures are the back end's feature keys.
type backendFeatures struct {
	sg, gso4, gso6, split bool
	// ipv6Csum is feature-ipv6-csum-offload: the back end completes the checksums of IPv6
	// packets sent with NETTXF_csum_blank. Linux netback offers it; without it, Linux netfront
	// clears NETIF_F_IPV6_CSUM and so TSO6.
	ipv6Csum  bool
	maxQueues int
	// multiQueue: the back end offers multi-queue-max-queues at all.
	multiQueue bool
}

// errDeviceGone is returned when the toolstack removed the device's directory.
var errDeviceGone = errors.New("device removed from xenstore")

// readDevice reads the toolstack's keys of the device directory.
func readDevice(st xenstore.Store, dir string) (device, error) {
	var d device
	var err error
	if d.backend, err = st.Read(0, dir+"/backend"); err != nil {
		return d, fmt.Errorf("read %s/backend: %w", dir, err)
	}
	id, err := st.Read(0, dir+"/backend-id")
	if err != nil {
		return d, fmt.Errorf("read %s/backend-id: %w", dir, err)
	}
	n, err := xenstore.ParseUint(id, 0x7FEF)
	if err != nil {
		return d, fmt.Errorf("%s/backend-id %q: %w", dir, id, err)
	}
	d.backendID = xenfront.DomID(n)
	mac, err := st.Read(0, dir+"/mac")
	if err != nil {
		return d, fmt.Errorf("read %s/mac: %w", dir, err)
	}
	if d.mac, err = net.ParseMAC(mac); err != nil || len(d.mac) != 6 {
		return d, fmt.Errorf("%s/mac %q: %w", dir, mac, xenstore.ErrBadValue)
	}
	return d, nil
}

// readFlag reads a boolean feature key: "1" is true, a missing key false, anything else an error.
func readFlag(st xenstore.Store, path string) (bool, error) {
	v, err := st.Read(0, path)
	if errors.Is(err, xenstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n, err := xenstore.ParseUint(v, 1)
	if err != nil {
		return false, fmt.Errorf("%s %q: %w", path, v, err)
	}
	return n == 1, nil
}

// readFeatures reads and checks the back end's features (section 6 of the notes).
func readFeatures(st xenstore.Store, be string) (backendFeatures, error) {
	var f backendFeatures
	copyMode, err := readFlag(st, be+"/feature-rx-copy")
	if err != nil {
		return f, err
	}
	if !copyMode {
		return f, fmt.Errorf("%w: back end lacks feature-rx-copy", ErrUnsupported)
	}
	for _, k := range []struct {
		key string
		dst *bool
	}{{"feature-sg", &f.sg}, {"feature-gso-tcpv4", &f.gso4}, {"feature-gso-tcpv6", &f.gso6},
		{"feature-split-event-channels", &f.split}, {"feature-ipv6-csum-offload", &f.ipv6Csum}} {
		if *k.dst, err = readFlag(st, be+"/"+k.key); err != nil {
			return f, err
		}
	}
	f.maxQueues = 1
	v, err := st.Read(0, be+"/multi-queue-max-queues")
	switch {
	case errors.Is(err, xenstore.ErrNotFound):
	case err != nil:
		return f, err
	default:
		f.multiQueue = true
		n, err := xenstore.ParseUint(v, 1<<16)
		if err != nil || n == 0 {
			return f, fmt.Errorf("multi-queue-max-queues %q: %w", v, xenstore.ErrBadValue)
		}
		f.maxQueues = int(min(n, maxQueues))
	}
	return f, nil
}

// publish writes the ring references, event channels and front-end features in one
// transaction, redoing it on EAGAIN, unless the toolstack removed the device meanwhile.
func (l *Link) publish(c *connection, f backendFeatures) error {
	return l.inDevice(func(tx xenstore.TxID) error { return l.writeKeys(tx, c, f) })
}

// writeKeys writes the keys of the front end's side of connection c within transaction tx:
// per queue its ring references and event channels, then the front end's features.
func (l *Link) writeKeys(tx xenstore.TxID, c *connection, f backendFeatures) error {
	st := l.cfg.Store
	w := func(k string, v uint64) error { return st.Write(tx, l.dir+"/"+k, strconv.FormatUint(v, 10)) }
	b := func(v bool) uint64 {
		if v {
			return 1
		}
		return 0
	}
	// The count is written even for one queue pair when the back end offers several, as
	// Linux's xen-netfront does: a count left from an earlier connection with more queue
	// pairs would otherwise send the back end to that connection's stale queue-N keys
	// (Linux's netback then fails the mapping and goes Closing).
	if len(c.queues) > 1 || f.multiQueue {
		if err := w("multi-queue-num-queues", uint64(len(c.queues))); err != nil {
			return err
		}
	}
	for _, q := range c.queues {
		prefix := ""
		if len(c.queues) > 1 {
			prefix = "queue-" + strconv.Itoa(q.idx) + "/"
		}
		if err := w(prefix+"tx-ring-ref", uint64(q.txRingRef)); err != nil {
			return err
		}
		if err := w(prefix+"rx-ring-ref", uint64(q.rxRingRef)); err != nil {
			return err
		}
		if c.split {
			if err := w(prefix+"event-channel-tx", uint64(q.txPort)); err != nil {
				return err
			}
			if err := w(prefix+"event-channel-rx", uint64(q.rxPort)); err != nil {
				return err
			}
		} else if err := w(prefix+"event-channel", uint64(q.txPort)); err != nil {
			return err
		}
	}
	for _, kv := range []struct {
		k string
		v uint64
	}{{"request-rx-copy", 1}, {"feature-rx-notify", 1}, {"feature-sg", 1},
		// Linux netback offers IPv6 packets with pending checksums (and so, as the kernel
		// drops TSO6 from a device without an IPv6 checksum feature, IPv6 GSO) only to a
		// front end that writes feature-ipv6-csum-offload; receive handles both.
		{"feature-ipv6-csum-offload", 1},
		{"feature-gso-tcpv4", b(!l.cfg.NoGSO)}, {"feature-gso-tcpv6", b(!l.cfg.NoGSO)}} {
		if err := w(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}
