// Package xenstore is a Xen guest's xenstore: the Store interface a driver reads and writes
// its device keys through (transactions, watches), the wire protocol of io/xs_wire.h (Header,
// MsgType, AppendMessage, ReadMessage), a Client that speaks it over any message stream, and
// Ring, the stream over the shared xenstore ring page (xenstore_domain_interface) a PV or PVH
// guest talks to xenstored through.
//
// The names drop the C and the former Xs prefixes: struct xsd_sockmsg is Header, XS_READ is
// MsgRead, XENSTORE_PAYLOAD_MAX PayloadMax, an XS_ERROR reply an Error ("ENOENT", "EAGAIN").
// TxID is a xenstore transaction id, unrelated to the netif protocol's transmit (TX) slots.
//
// On Linux in a Xen domain, /dev/xen/xenbus is such a message stream (package
// xenfront/linuxdom); in a unikernel, Ring over the page at HVM_PARAM_STORE_PFN is. xentest's
// simulated xenstore implements Store directly and also serves the wire protocol over a Ring.
//
// Everything from xenstored and the other domain is untrusted: message lengths are bounded by
// PayloadMax, a ring producer index ahead of the consumer by more than RingSize breaks the
// stream with ErrProtocol, and ParseUint reads numbers strictly.
//
// The layout of xs_wire.h (the ring page's offsets, the 16-byte header) is pinned by
// layout_test.go.
package xenstore
