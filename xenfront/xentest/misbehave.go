package xentest

import "strings"

// Misbehaviour is a set of protocol violations a malicious back end commits, modelled on the
// bugs the Xen security advisories for netfront fixed (XSA-391, XSA-396, XSA-403) and on the
// checks of Linux's hardened netfront. Each fires once, on the first suitable frame after
// NetbackConfig.MisbehaveAfter good ones.
type Misbehaviour uint32

// Misbehaviours.
const (
	// TxBadID answers a TX request with an id outside the ring (>= 256).
	TxBadID Misbehaviour = 1 << iota
	// TxRepeatID answers a TX request twice: the response to the next request repeats
	// its id.
	TxRepeatID
	// TxUnknownID answers with an id the front end has no request outstanding for.
	TxUnknownID
	// TxKeepGrant maps a TX page and never unmaps it (XSA-396): the front end must not
	// reuse the page.
	TxKeepGrant
	// RxBadOffset places data past the end of the page (offset + size > 4096).
	RxBadOffset
	// RxBadSize claims more bytes than a page holds.
	RxBadSize
	// RxTooManySlots chains a packet over more slots than XEN_NETIF_NR_SLOTS_MIN.
	RxTooManySlots
	// RxBadID answers an RX request with the id of another slot.
	RxBadID
	// RxBadExtra sends a GSO extra-info slot with size 0.
	RxBadExtra
	// ProducerJump publishes an RX response producer index far beyond the requests posted.
	ProducerJump
)

var misNames = []string{"TxBadID", "TxRepeatID", "TxUnknownID", "TxKeepGrant", "RxBadOffset",
	"RxBadSize", "RxTooManySlots", "RxBadID", "RxBadExtra", "ProducerJump"}

// String lists the misbehaviours in m.
func (m Misbehaviour) String() string {
	var s []string
	for i, n := range misNames {
		if m&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// Misbehaviours lists every single misbehaviour, for table tests.
func Misbehaviours() []Misbehaviour {
	out := make([]Misbehaviour, len(misNames))
	for i := range out {
		out[i] = 1 << i
	}
	return out
}

// unclaimMisbehaviour undoes the misbehaveNow that granted the misbehaviour to a frame the
// back end then dropped, so that the next frame performs it.
func (nb *Netback) unclaimMisbehaviour() {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.mis = false
}

// misbehaveNow reports whether this frame is the one to misbehave on.
func (nb *Netback) misbehaveNow(m Misbehaviour) bool {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if nb.cfg.Misbehave&m == 0 || nb.mis {
		return false
	}
	nb.frames++
	if nb.frames <= nb.cfg.MisbehaveAfter {
		return false
	}
	nb.mis = true
	nb.log.Info("netback: misbehaving", "how", m)
	return true
}
