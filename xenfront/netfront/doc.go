// Package netfront is a Xen network front end (netfront) in Go: a link.Link that talks to
// a netif back end (Linux xen-netback, or xentest's simulation) through shared rings, grants
// and event channels, as io/netif.h specifies. It takes the hypervisor interfaces of package
// xenfront and a xenstore.Store, and builds on packages ring and netif for the shared rings
// and xenbus for the device states.
//
// Start follows the link contract: link.ErrNilReceiver for a nil receiver, link.ErrStarted
// for a second Start, link.ErrClosed once Close has begun.
//
// # Handshake
//
// Open reads the toolstack's keys (backend, backend-id, mac) from the device directory,
// writes state Initialising, waits for the back end's InitWait, reads its features
// (feature-rx-copy is required; feature-sg, feature-gso-tcpv4/-tcpv6,
// feature-ipv6-csum-offload, feature-split-event-channels and multi-queue-max-queues are used
// when offered; TSO6 needs feature-ipv6-csum-offload too, and without it Transmit completes
// IPv6 checksums itself), grants fresh ring pages and page pools, allocates event channels,
// and writes tx-ring-ref, rx-ring-ref, event-channel (or event-channel-tx/-rx),
// request-rx-copy, feature-rx-notify, feature-sg, feature-ipv6-csum-offload,
// feature-gso-tcpv4/-tcpv6 and, with several queues, multi-queue-num-queues and queue-N/
// keys, in one xenstore transaction redone on EAGAIN. These are the keys Linux netback's
// connect and read_xenbus_vif_flags read; feature-ctrl-ring is not used. It then posts RX buffers, writes
// Connected and returns once the back end is Connected.
//
// When the back end leaves Connected (Closing, Closed, a restart, a detach), the link goes
// down (Up false; the receiver gets LinkStateChanged(false)), stops its goroutines, answers
// Closed, waits briefly for the back end to unmap the rings, then revokes every grant and closes
// its ports. When the device is there again with a back end ready (Closed, Initialising or
// InitWait, not offline), it reads the toolstack's keys again, connects with fresh rings and
// goes up (LinkStateChanged(true)). A device the toolstack removed (xl network-detach) is waited
// for until the toolstack creates it again under the same directory (xl network-attach); the
// front end never writes into the removed directory, and keeps its first MAC (see Open). Close
// writes Closing, waits briefly for the back end, and releases everything.
//
// # Data path
//
// Each queue owns 256 TX and 256 RX pages granted when it connects (TX read-only, RX writable),
// zeroed by the grant table before they are granted and reused without per-frame allocation.
// Transmit copies each frame into TX pages (one slot per 4 KiB, chained with NETTXF_more_data,
// a GSO extra-info slot after the first for TSO frames, NETTXF_csum_blank|data_validated for
// checksum offload) and blocks while the ring is full; a TCP GSO frame longer than the 65535
// bytes a request's size field describes goes as two GSO frames cut at a segment boundary.
// Received frames are lent to the receiver straight from the RX pages (one segment per slot,
// no copy); Release re-posts them. NETRXF_csum_blank and GSO extras become link.Offload
// metadata, with checksum offsets recomputed from the headers as Linux's skb_checksum_setup
// does. Ring indices follow io/ring.h: requests and responses are published with atomic
// stores, notifications are sent only when the other end's event index asks for them, and the
// consumer re-arms its event index and checks again before sleeping.
//
// # A back end that is not trusted
//
// Every response is copied out of the shared ring once and validated there, following the
// hardened Linux netfront and the advisories XSA-391, XSA-396 and XSA-403: a producer index
// beyond the requests in flight, a TX response with an id outside the ring or for no
// outstanding request, an extra NULL response, a TX page still mapped after its response, an
// RX response whose id does not match its slot, an offset and size outside the page, a packet
// chained over more slots than XEN_NETIF_NR_SLOTS_MIN, an incomplete chain, an invalid
// extra-info type or a GSO extra with size 0 or an unknown type. Any of them stops the link for
// good: Err reports the violation wrapped in ErrBackend, the link goes down, the back end is
// asked to close, and pages it still maps are never reused. Events that bring no work are
// counted, and a flood of them is slowed down. Xenstore values from the back end are parsed
// strictly and bounded.
package netfront
