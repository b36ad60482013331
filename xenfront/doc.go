// Package xenfront holds the hypervisor interfaces a Xen guest's split drivers are built on:
// small, replaceable interfaces to the grant table (GrantTable) and the event channels
// (EventChannels), with the types they speak in (DomID, GrantRef, Port, PageSize).
//
// # Layout
//
// The protocols on top of these interfaces each have a package of their own, in layers that
// import only downwards:
//
//   - xenfront (this package): grant tables and event channels. It imports nothing of the
//     others.
//   - xenfront/ring: the generic shared ring of io/ring.h (ring.Front, ring.Back).
//   - xenfront/netif: the netif protocol's slot layouts (io/netif.h) and the ring types built
//     from them (netif.TxFrontRing, ...).
//   - xenfront/xenstore: the xenstore interface (xenstore.Store, transactions, watches), its
//     wire protocol (io/xs_wire.h) and a client (xenstore.Client) that runs over the shared
//     xenstore ring page a PV or PVH guest uses (xenstore.Ring) or over any other message
//     stream.
//   - xenfront/xenbus: the split drivers' state protocol (io/xenbus.h) on a xenstore.Store.
//   - xenfront/netfront: the network driver, a link.Link.
//   - xenfront/xentest: the hypervisor and a netback simulated in process, for tests,
//     benchmarks and "-net user,nic=xen"; xenfront/linuxdom: the interfaces on a Linux Xen
//     domain's /dev/xen devices.
//
// Every index or value the other domain writes is untrusted: the ring, netif and xenstore
// packages read shared indices with sync/atomic, copy a slot out once before validating it,
// and parse xenstore values strictly.
//
// # Plugging in a unikernel runtime
//
// A Go runtime without an OS kernel (a unikernel) implements the two interfaces and a xenstore
// connection with hypercalls and hands them to netfront.Open:
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
//   - xenstore.Store: the xenstore ring page (HVM_PARAM_STORE_PFN) and its event channel
//     (HVM_PARAM_STORE_EVTCHN) give a xenstore.Ring, and xenstore.NewClient on it is the Store.
//
// Wired together:
//
//	ring, err := xenstore.NewRing(storePage, events, storePort, false)
//	store := xenstore.NewClient(ring)
//	link, err := netfront.Open(ctx, &netfront.Config{Grants: grants, Events: events, Store: store})
//	nic, err := stack.AddNIC(link, nil)
//
// On Linux in a Xen domain the same interfaces map onto /dev/xen/gntalloc, /dev/xen/evtchn and
// /dev/xen/xenbus (the last is a message stream for xenstore.NewClient): package
// xenfront/linuxdom implements them there (linuxdom.Open), checked against models of the
// kernel drivers but not yet against a real Xen host.
package xenfront
