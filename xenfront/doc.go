// Package xenfront holds what a Xen guest's split drivers share: small, replaceable interfaces
// to the hypervisor (GrantTable, EventChannels, Store), the generic shared ring of io/ring.h
// (FrontRing, BackRing), the netif protocol's slot layouts (io/netif.h), and the xenstore wire
// protocol (io/xs_wire.h) with a client (XsClient) that runs over the shared xenstore ring page
// a PV or PVH guest uses (StoreRing) or over any other message stream.
//
// The network driver itself is in package netfront; package xentest simulates the hypervisor
// and a netback in process, for tests, benchmarks and "-net user,nic=xen".
//
// # Layouts
//
// The Go types TxRequest, TxResponse, RxRequest, RxResponse and ExtraInfo, the ring header and
// the xenstore ring offsets have exactly the sizes and field offsets of Xen's public headers;
// layout_test.go pins them (netif_tx_request 12 bytes, netif_rx_response 8, the sring header
// 64, xenstore_domain_interface's indices at 2048..2060, and so on). Slots are native-endian
// like the Xen ABI. Every index the other domain writes is read with sync/atomic; responses are
// copied out of their slot once and only the copy is validated and used.
//
// # Plugging in a unikernel runtime
//
// A Go runtime without an OS kernel (a unikernel) implements the three interfaces with
// hypercalls and hands them to netfront.Open:
//
//   - GrantTable: at start-up, GNTTABOP_query_size (grant_table_op 20, cmd 6) and one
//     XENMEM_add_to_physmap (memory_op 12, space XENMAPSPACE_grant_table) per table frame map
//     the table into guest memory. Grant then takes a zeroed, page-aligned page from the
//     runtime's allocator, writes a grant_entry_v1 {domid, frame} at the first free reference
//     at or above NrReservedGrants, and stores flags = GTF_permit_access (| GTF_readonly) last,
//     after a write barrier. InUse tests GTF_reading|GTF_writing; End compare-and-swaps the
//     flags to 0 only while neither bit is set and otherwise returns ErrGrantInUse, after which
//     the page is never reused.
//
//   - EventChannels: EVTCHNOP_alloc_unbound / bind_interdomain / send / close
//     (event_channel_op 32). Wait parks the goroutine until the upcall handler (callback vector
//     from HVM_PARAM_CALLBACK_IRQ) finds the port's bit in shared_info's evtchn_pending, clears
//     it and wakes the waiter; events coalesce, so one bit per port is enough.
//
//   - Store: the xenstore ring page (HVM_PARAM_STORE_PFN) and its event channel
//     (HVM_PARAM_STORE_EVTCHN) give a StoreRing, and NewXsClient on it is the Store.
//
// Wired together:
//
//	ring, err := xenfront.NewStoreRing(storePage, events, storePort, false)
//	store := xenfront.NewXsClient(ring)
//	link, err := netfront.Open(ctx, &netfront.Config{Grants: grants, Events: events, Store: store})
//	nic, err := stack.AddNIC(link, nil)
//
// On Linux in a Xen domain the same interfaces map onto /dev/xen/gntalloc, /dev/xen/evtchn and
// /dev/xen/xenbus (the last is a message stream for NewXsClient): package xenfront/linuxdom
// implements them there (linuxdom.Open), checked against models of the kernel drivers but not
// yet against a real Xen host.
package xenfront
