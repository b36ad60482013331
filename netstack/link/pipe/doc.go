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
// receiver releases one (back-pressure): the pipe does not drop a frame because the receiver is
// busy. A receiver that keeps its frames, whether it has returned from DeliverFrames or waits
// inside it, therefore stalls the peer's Transmit for as long as it keeps them, until one of
// the ends is closed.
//
// A receiver that has given its frames back but stays inside DeliverFrames is another matter.
// A stack transmits from inside DeliverFrames: gVisor answers a segment for a connection it
// does not know with a reset, and ARP requests and pings with replies, on the goroutine that
// delivers. When both directions are full and both ends' delivery goroutines transmit so, each
// waits for the other to free a buffer and neither ever does; two stacks closing thousands of
// connections at once met exactly this. So when the transmitters of both directions have
// waited 100 ms for a buffer while each direction's receiver sat in one DeliverFrames call,
// holding none of its frames (the netstack adapter releases each batch before it hands it to
// gVisor) and freeing none, the pipe takes the receiver for stuck and, as a NIC whose receive
// ring is full, drops what does not fit (counted in the sender's TxDropped; the frames count
// as taken) instead of waiting, until the receiver has returned and taken every frame queued
// meanwhile. One receiver that sits so while the other direction's receiver moves is not in
// that cycle, only slow (on a loaded machine a delivery goroutine can wait longer than that
// for a CPU), and is waited for: frames flowing between two stacks are not dropped.
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
