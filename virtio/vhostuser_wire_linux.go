package virtio

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// The vhost-user wire protocol, frontend side (QEMU's docs/interop/vhost-user.rst): message
// types, the layouts of the payloads this frontend sends, and the framing of a message and its
// reply over the UNIX socket. The transport decides what to send and when.

// vhuRequest is a vhost-user message type, of those the frontend sends.
type vhuRequest uint32

const (
	vhuGetFeatures         vhuRequest = 1
	vhuSetFeatures         vhuRequest = 2
	vhuSetOwner            vhuRequest = 3
	vhuSetMemTable         vhuRequest = 5
	vhuSetVringNum         vhuRequest = 8
	vhuSetVringAddr        vhuRequest = 9
	vhuSetVringBase        vhuRequest = 10
	vhuGetVringBase        vhuRequest = 11
	vhuSetVringKick        vhuRequest = 12
	vhuSetVringCall        vhuRequest = 13
	vhuGetProtocolFeatures vhuRequest = 15
	vhuSetProtocolFeatures vhuRequest = 16
	vhuGetQueueNum         vhuRequest = 17
	vhuSetVringEnable      vhuRequest = 18
	vhuNetSetMTU           vhuRequest = 20
)

var vhuRequestNames = map[vhuRequest]string{
	vhuGetFeatures: "GET_FEATURES", vhuSetFeatures: "SET_FEATURES", vhuSetOwner: "SET_OWNER",
	vhuSetMemTable: "SET_MEM_TABLE", vhuSetVringNum: "SET_VRING_NUM", vhuSetVringAddr: "SET_VRING_ADDR",
	vhuSetVringBase: "SET_VRING_BASE", vhuGetVringBase: "GET_VRING_BASE", vhuSetVringKick: "SET_VRING_KICK",
	vhuSetVringCall: "SET_VRING_CALL", vhuGetProtocolFeatures: "GET_PROTOCOL_FEATURES",
	vhuSetProtocolFeatures: "SET_PROTOCOL_FEATURES", vhuGetQueueNum: "GET_QUEUE_NUM",
	vhuSetVringEnable: "SET_VRING_ENABLE", vhuNetSetMTU: "NET_SET_MTU",
}

// String returns the request's name in the vhost-user specification.
func (r vhuRequest) String() string {
	if n, ok := vhuRequestNames[r]; ok {
		return n
	}
	return fmt.Sprintf("request %d", uint32(r))
}

const (
	vhuVersion   = 1   // flags bits 0-1
	vhuReply     = 0x4 // flags: reply
	vhuNeedReply = 0x8 // flags: acknowledge this message (REPLY_ACK)
	vhuHdrLen    = 12  // le32 request, le32 flags, le32 payload size

	// vhuMaxReply bounds a reply's payload: no reply a frontend asks for is longer.
	vhuMaxReply = 256

	// vhuProtocolFeatures is VHOST_USER_F_PROTOCOL_FEATURES (bit 30). When the backend offers
	// it, the frontend negotiates protocol features and acknowledges the bit in SET_FEATURES;
	// its rings then start disabled and are enabled with SET_VRING_ENABLE.
	vhuProtocolFeatures = 1 << 30

	// vhuProtocolSupported are the protocol features this frontend uses.
	vhuProtocolSupported = VhostUserProtocolMQ | VhostUserProtocolReplyAck | VhostUserProtocolNetMTU
)

// vhuU64 is a u64 payload: feature bits, an MTU, or a ring index for SET_VRING_CALL and
// SET_VRING_KICK (whose file descriptor travels beside the message).
func vhuU64(v uint64) [8]byte {
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], v)
	return p
}

// vhuVringState is struct vhost_vring_state: le32 index, le32 num (a size, a base or a flag).
func vhuVringState(index int, num uint32) [8]byte {
	var p [8]byte
	binary.LittleEndian.PutUint32(p[0:], uint32(index))
	binary.LittleEndian.PutUint32(p[4:], num)
	return p
}

// vhuVringAddr is struct vhost_vring_addr: le32 index, le32 flags, then le64 addresses of the
// descriptor, used (device) and available (driver) areas and of the log, all zero but index and
// the areas.
func vhuVringAddr(index int, desc, used, avail uint64) [40]byte {
	var p [40]byte
	binary.LittleEndian.PutUint32(p[0:], uint32(index))
	binary.LittleEndian.PutUint64(p[8:], desc)
	binary.LittleEndian.PutUint64(p[16:], used)
	binary.LittleEndian.PutUint64(p[24:], avail)
	return p
}

// vhuMemTable is a memory table of one region (struct VhostUserMemory: le32 nregions, le32
// padding, then guest_phys_addr, memory_size, userspace_addr and mmap_offset), mapped
// identically: device addresses are the frontend's virtual addresses. The region's file
// descriptor travels beside the message.
func vhuMemTable(base, size uint64) [40]byte {
	var p [40]byte
	binary.LittleEndian.PutUint32(p[0:], 1)     // one region
	binary.LittleEndian.PutUint64(p[8:], base)  // guest_phys_addr
	binary.LittleEndian.PutUint64(p[16:], size) // memory_size
	binary.LittleEndian.PutUint64(p[24:], base) // userspace_addr
	binary.LittleEndian.PutUint64(p[32:], 0)    // mmap_offset
	return p
}

// writeMessage writes one message, with optional file descriptors, within timeout.
func writeMessage(c *net.UnixConn, timeout time.Duration, req vhuRequest, flags uint32, payload []byte, fds ...int) error {
	msg := make([]byte, vhuHdrLen+len(payload))
	binary.LittleEndian.PutUint32(msg[0:], uint32(req))
	binary.LittleEndian.PutUint32(msg[4:], vhuVersion|flags)
	binary.LittleEndian.PutUint32(msg[8:], uint32(len(payload)))
	copy(msg[vhuHdrLen:], payload)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, _, err := c.WriteMsgUnix(msg, oob, nil); err != nil {
		return fmt.Errorf("virtio: vhost-user %v: %w", req, err)
	}
	return nil
}

// readReply reads the reply to req within timeout: a header that names req with the reply
// flag, and at most vhuMaxReply bytes of payload, which it returns.
func readReply(c *net.UnixConn, timeout time.Duration, req vhuRequest) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var hdr [vhuHdrLen]byte
	if _, err := readFull(c, hdr[:]); err != nil {
		return nil, fmt.Errorf("virtio: vhost-user reply to %v: %w", req, err)
	}
	r, flags, size := binary.LittleEndian.Uint32(hdr[0:]), binary.LittleEndian.Uint32(hdr[4:]), binary.LittleEndian.Uint32(hdr[8:])
	if r != uint32(req) || flags&vhuReply == 0 || size > vhuMaxReply {
		return nil, fmt.Errorf("%w: vhost-user reply (request %d flags %#x size %d) to %v",
			ErrDeviceBroken, r, flags, size, req)
	}
	body := make([]byte, size)
	if _, err := readFull(c, body); err != nil {
		return nil, fmt.Errorf("virtio: vhost-user reply to %v: %w", req, err)
	}
	return body, nil
}

// replyU64 decodes the payload of a reply to req that is a u64.
func replyU64(req vhuRequest, body []byte) (uint64, error) {
	if len(body) < 8 {
		return 0, fmt.Errorf("%w: vhost-user reply of %d bytes to %v", ErrDeviceBroken, len(body), req)
	}
	return binary.LittleEndian.Uint64(body), nil
}

func readFull(c *net.UnixConn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
