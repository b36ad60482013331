package virtio

import (
	"errors"
	"net"
	"time"
)

// Protocol features (VHOST_USER_PROTOCOL_F_*) the frontend negotiates when the backend offers
// them; [VhostUser.ProtocolFeatures] reports those in use.
const (
	// VhostUserProtocolMQ lets the frontend ask how many queue pairs the backend has
	// (GET_QUEUE_NUM); the driver uses one.
	VhostUserProtocolMQ uint64 = 1 << 0
	// VhostUserProtocolReplyAck makes the backend acknowledge every message that has no
	// reply of its own, so a refused memory table, ring or feature set fails the set-up (or
	// the reconnection) instead of leaving a device that never moves a frame.
	VhostUserProtocolReplyAck uint64 = 1 << 3
	// VhostUserProtocolNetMTU lets the frontend tell the backend the device's MTU
	// (NET_SET_MTU).
	VhostUserProtocolNetMTU uint64 = 1 << 4
)

// ErrVhostUserRefused is returned when a vhost-user backend answers a message with a failure
// (a non-zero REPLY_ACK status).
var ErrVhostUserRefused = errors.New("virtio: vhost-user backend refused a request")

// VhostUserConfig configures [DialVhostUser]. The zero value means the defaults.
type VhostUserConfig struct {
	// Net configures the driver; nil means the defaults.
	Net *NetConfig
	// MAC is the MAC the device reports (vhost-user backends have none); nil means a random
	// locally administered address.
	MAC net.HardwareAddr
	// MTU is the MTU the device reports; zero means 1500.
	MTU int
	// MemorySize is the size of the shared memory for rings and buffers; zero means 16 MiB,
	// enough for the driver's largest default queues and buffers (about 9 MiB with TSO).
	MemorySize int
	// Timeout bounds the connection and every reply; zero means 5 seconds.
	Timeout time.Duration
}
