// Package linktest is the conformance suite of the frame contract ([link.Link] and
// [link.Receiver]) and the test helpers it is built from, for every link: the hosted links
// under netstack/link, the user-mode network's link and the virtio and xenfront drivers.
//
// # Running the suite over a link
//
// [Run] takes a function that makes two new links joined so that what one transmits the
// other receives, and runs every check on a new pair:
//
//	func TestConformance(t *testing.T) {
//		linktest.Run(t, func(t *testing.T) (a, b link.Link) {
//			a, b, err := mylink.NewPair(nil)
//			require.NoError(t, err)
//			return a, b
//		}, &linktest.Options{InFlight: 256})
//	}
//
// The suite starts and closes the links itself. A driver tested against a device model that
// forwards to another link (a model in front of one end of a pipe) pairs with that link's
// peer: return the driver as a and the pipe's other end as b. When the peer is not a Link at
// all, return a nil b and make the peer send every frame back to a: the suite then checks a
// against itself. [Options] carry what the contract leaves to each link's
// documentation: how long a frame Transmit takes and whether it refuses or drops a longer one,
// whether Transmit blocks, returns [link.ErrQueueFull] or the path between the links drops
// frames when the receiver stalls, and how many frames the pair holds in flight.
//
// # What it checks
//
//   - Start: [link.ErrNilReceiver] for a nil receiver, [link.ErrStarted] the second time (and
//     the second receiver is never called), [link.ErrClosed] after Close.
//   - Close: idempotent, without error, Up false afterwards, and no goroutine the links
//     started left running (counted from when the pair is made).
//   - Transmit: [link.ErrClosed] after Close; frames of every length up to MTU+14, whole or
//     in segments, arrive once and unchanged, although the sender overwrites them as soon as
//     Transmit returns; a frame longer than the link takes is refused with
//     [link.ErrFrameTooLarge] or dropped and counted, as documented, and never delivered;
//     several goroutines may transmit at once (run the suite with -race) and no frame is lost
//     or damaged.
//   - Counters: TxFrames and TxBytes count what Transmit took, RxFrames and RxBytes what was
//     delivered, with no drop or error in a clean exchange.
//   - Ownership: received frames are released exactly once, from other goroutines, some
//     after a delay and some after Close; the link keeps delivering although far more frames
//     pass than it has buffers, never delivers a frame with the Cookie of one still lent, and
//     never changes a lent frame. DeliverFrames is never called concurrently unless
//     [Options.ConcurrentDelivery] says the link does that.
//   - Offloads, on links that claim them: a [link.FlagNeedsCsum] frame arrives with its
//     checksum pending (on a peer with [link.FeatureRxCsum]) or completed; a TSO super-frame
//     ([link.FeatureTxTSO4], [link.FeatureTxTSO6]) arrives as GSO frames (on a peer with
//     [link.FeatureRxGRO]) or as segments no longer than the MTU, with valid checksums and
//     its whole payload exactly once.
//   - Back-pressure: while the receiver stalls, the links hold no more than
//     [Options.InFlight] frames; a Transmit blocked on a stalled receiver returns
//     [link.ErrClosed] when its link is closed.
//
// Every frame the suite sends is TCP or UDP from port [SuitePort], and its receivers keep
// only those, so the suite runs over links that also carry other traffic, such as TAP devices
// whose kernel side sends neighbour discovery.
//
// # Helpers
//
// [Recorder] is a Receiver that copies and releases what it is given and waits for frames or
// link-state changes without polling; [Counter] counts frames without allocating, for
// allocation tests and benchmarks. [Packet] builds Ethernet frames carrying TCP or UDP over
// IPv4 or IPv6 with correct checksums, with pending checksums or as TSO super-frames;
// [NumberedFrame] builds a frame that [FrameNumber] recognises; [VerifyChecksums] checks a
// received frame's checksums with [link.Checksum] and [link.LocateHeaders].
package linktest
