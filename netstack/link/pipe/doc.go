// Package pipe provides an in-memory pair of connected [link.Link]s for tests and
// benchmarks: whatever one end transmits, the other end receives.
//
// Two stacks joined by a pipe exchange frames without any kernel involvement. When the pipe is
// configured with offload features (checksum offload, TSO and GRO), the offload metadata of
// each frame travels with it end to end, so the stacks exchange 64 KiB TCP super-frames and
// never compute a checksum; this is what makes stack-to-stack transfers fast.
//
// # Buffers and back-pressure
//
// Each end owns a fixed pool of [Config.QueueDepth] receive buffers. Transmit copies every
// frame into a free buffer of the peer's pool and queues it; the peer's goroutine hands queued
// frames to its receiver in batches of up to [Config.BatchSize], and the receiver gives the
// buffers back with Release. A buffer is allocated the first time it is used and reused from
// then on, so in steady state neither direction allocates.
//
// When every buffer of the peer is queued or lent to its receiver, Transmit blocks until the
// receiver releases one (back-pressure): the pipe never drops a frame because it is busy. A
// receiver that never releases its frames therefore stalls the peer's Transmit until one of the
// ends is closed. A receiver that transmits synchronously from inside DeliverFrames while both
// directions are full can deadlock the pair, like two hosts both waiting for the other's
// buffers; the netstack adapter releases every frame before DeliverFrames returns and gVisor
// hands inbound TCP segments to separate goroutines, so two stacks do not.
//
// Frames transmitted while the peer has not been started yet are dropped and counted in the
// peer's RxDropped, as a NIC without a driver would drop them.
//
// # Impairments
//
// [Impairments] make the pipe lossy: it can drop, duplicate, reorder and corrupt frames, delay
// them and limit the rate of each direction. Every random decision comes from a generator
// seeded with [Impairments.Seed], one stream per direction, so the same seed and the same
// sequence of transmitted frames give the same decisions.
//
// Impairments act on the frames a wire would carry. A TCP GSO super-frame on an impaired pipe
// is therefore first cut into the MSS-sized packets a NIC with TSO would send, each with
// complete checksums, and each packet is impaired and delivered on its own, as to a receiver
// without GRO; 1% loss loses 1% of packets, not 1% of 64 KiB super-frames. Without
// impairments super-frames travel whole.
//
// Corruption flips one byte after the Ethernet header and leaves the checksums as they are, so
// that the receiving stack has to detect it. A frame that carries offload flags would escape
// that check: FlagNeedsCsum says its transport checksum is still to be computed and
// FlagDataValid says it has been verified, and a receiver trusts both. Before corrupting such a
// frame the pipe therefore finalizes its checksum in software (as a NIC without checksum
// offload would) and clears its offload flags. TCP super-frames were already cut into
// packets with complete checksums; a GSO frame the pipe does not segment (not TCP over IPv4 or
// IPv6) keeps its GSO metadata and reaches the receiver as one large packet whose checksum the
// receiver verifies and finds wrong.
//
// # Closing
//
// Closing one end ends its goroutine and makes its Transmit return [link.ErrClosed]. The
// other end sees its carrier go down: its Up reports false, its receiver is told through
// LinkStateChanged(false) and its Transmit returns [link.ErrLinkDown].
package pipe
