// Package pcap wraps any [link.Link] and writes every frame it carries, in both directions,
// to a capture file in the classic libpcap format (LINKTYPE_ETHERNET) that tcpdump, tshark and
// Wireshark read.
//
// # Format
//
// The file starts with the 24-byte libpcap global header (version 2.4, little-endian, with the
// microsecond magic 0xa1b2c3d4 or, with [Config.Nanoseconds], the nanosecond magic
// 0xa1b23c4d), followed by one 16-byte record header and the frame bytes per frame. The snap
// length defaults to 262144 bytes, libpcap's own maximum for Ethernet, so that 64 KiB TSO and
// GRO super-frames are captured whole; they appear in the capture as single large TCP
// segments, as on a Linux interface with offloads. Offload metadata itself is not recorded.
//
// # Never holding up the link
//
// Capturing must not slow the link down to the speed of the writer, nor stop it if the writer
// blocks (a full pipe to a stalled tshark, a hung network file system). Frames are therefore
// copied into a bounded in-memory ring ([Config.BufferSize], 4 MiB by default) on the link's
// own path, without allocating, and a goroutine of the capture writes the ring out to the
// io.Writer. When the ring is full the frame is not captured and is counted in
// [CaptureStats].Dropped, as libpcap counts the packets its buffer had no room for; the link
// itself never waits for the writer. After a write error the capture stops (see [Link.Err])
// and the link goes on.
//
// # Flushing and closing
//
// [Link.Flush] waits until every frame captured so far has been written to the io.Writer and
// then calls its Flush method if it has one (such as a *bufio.Writer's). Close closes the inner
// link, then flushes in the same way and ends the writer goroutine; it does not close the
// io.Writer, which belongs to the caller. Flush and Close wait for the io.Writer: one that
// blocks forever blocks them, though never the link's data path.
package pcap
