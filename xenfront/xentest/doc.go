// Package xentest simulates, in process, the parts of Xen a split network driver meets: a
// hypervisor (Hypervisor) with per-domain grant tables that enforce what each grant allows
// (the grantee only, read-only or writable, within the page; a mapped grant cannot be
// revoked), interdomain event channels that latch and coalesce, and a xenstored (Xenstored)
// with watches and transactions, which each Domain reaches directly as a xenstore.Store and
// which also speaks the wire protocol over a ring page (Xenstored.Serve); and a netback
// (Netback) with the back end's xenbus state machine and a data path that moves frames between
// the front end's rings and another link.Link using grant copies. Netback.Restart restarts the
// back end in place; Netback.Detach and Netback.Attach remove the vif and create it again as
// the toolstack does for xl network-detach and network-attach.
//
// A Netback can misbehave (NetbackConfig.Misbehave) in the ways the netfront security
// advisories describe, and InjectRx/InjectTx let a fuzzer write arbitrary responses; netfront's
// tests use both.
//
// NewLoopback puts netfront, against a simulated netback, in front of any link.Link, so an
// application's stack can run over Xen rings without Xen: this is "-net user,nic=xen".
package xentest
