package virtio_test

import (
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/virtio"
)

// vhost-user message types and flags a fake backend needs to answer the frontend.
const (
	fakeGetFeatures         = 1
	fakeGetVringBase        = 11
	fakeGetProtocolFeatures = 15
	fakeGetQueueNum         = 17
	fakeNeedReply           = 0x8
)

// fakeBackend accepts one vhost-user connection on sock and answers every message that wants a
// reply with the next one of replies: a header naming the request with the reply flag, then the
// reply's payload. A reply whose first byte is 0xff is sent as it is, header included, so that
// replies can also be malformed. When replies run out the backend hangs up.
func fakeBackend(tb testing.TB, sock string, replies [][]byte) {
	ln, err := net.Listen("unix", sock)
	require.NoError(tb, err)
	done := make(chan struct{})
	conns := make(chan net.Conn, 1)
	tb.Cleanup(func() {
		ln.Close()
		select {
		case c := <-conns:
			c.Close() // ends a read the frontend will never answer
		case <-done:
		}
		<-done
	})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		ln.Close() // one connection: a reconnection finds no backend
		if err != nil {
			return
		}
		conns <- c
		defer c.Close()
		uc := c.(*net.UnixConn)
		var hdr [12]byte
		oob := make([]byte, 256)
		for {
			_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, _, _, err := uc.ReadMsgUnix(hdr[:], oob); err != nil {
				return
			}
			req, flags, size := binary.LittleEndian.Uint32(hdr[0:]), binary.LittleEndian.Uint32(hdr[4:]), binary.LittleEndian.Uint32(hdr[8:])
			if _, err := io.CopyN(io.Discard, uc, int64(size)); err != nil {
				return
			}
			switch {
			case req == fakeGetFeatures, req == fakeGetVringBase, req == fakeGetProtocolFeatures,
				req == fakeGetQueueNum, flags&fakeNeedReply != 0:
			default:
				continue
			}
			if len(replies) == 0 {
				return
			}
			r := replies[0]
			replies = replies[1:]
			if len(r) > 0 && r[0] == 0xff {
				_, _ = uc.Write(r[1:])
				continue
			}
			msg := binary.LittleEndian.AppendUint32(nil, req)
			msg = binary.LittleEndian.AppendUint32(msg, 0x5)
			msg = binary.LittleEndian.AppendUint32(msg, uint32(len(r)))
			if _, err := uc.Write(append(msg, r...)); err != nil {
				return
			}
		}
	}()
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// goodReplies is a backend that offers VERSION_1, MAC, MRG_RXBUF and protocol features (MQ,
// REPLY_ACK, NET_MTU), has one queue pair and acknowledges every message with status ok.
func goodReplies(ack uint64) [][]byte {
	r := [][]byte{
		u64(virtio.FeatureVersion1 | virtio.NetFMAC | virtio.NetFMrgRxbuf | 1<<30),
		u64(virtio.VhostUserProtocolMQ | virtio.VhostUserProtocolReplyAck | virtio.VhostUserProtocolNetMTU),
		u64(1),
	}
	for range 20 { // acknowledgements, and the rings' bases when the driver stops
		r = append(r, u64(ack))
	}
	return r
}

// dialFake dials a fake backend with the given replies and small queues, and closes what it
// got.
func dialFake(tb testing.TB, replies [][]byte) error {
	sock := filepath.Join(tb.TempDir(), "vhost.sock")
	fakeBackend(tb, sock, replies)
	v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{
		Net:        &virtio.NetConfig{QueueSize: 16},
		MemorySize: 1 << 20,
		Timeout:    time.Second,
	})
	if err == nil {
		v.Close()
	}
	return err
}

// TestVhostUserReplyAck checks the set-up against a backend that acknowledges every message
// (REPLY_ACK), and one that refuses them.
func TestVhostUserReplyAck(t *testing.T) {
	require.NoError(t, dialFake(t, goodReplies(0)))
	require.ErrorIs(t, dialFake(t, goodReplies(1)), virtio.ErrVhostUserRefused)
}

// FuzzVhostUserReplies sets the driver up against a backend whose replies are the fuzzer's:
// whatever they say, the set-up ends with a driver or an error, within the timeouts, and
// without a panic.
func FuzzVhostUserReplies(f *testing.F) {
	join := func(replies [][]byte) []byte {
		var b []byte
		for _, r := range replies {
			b = append(b, byte(len(r)))
			b = append(b, r...)
		}
		return b
	}
	f.Add(join(goodReplies(0)))
	f.Add(join(goodReplies(1)))
	f.Add(join(goodReplies(0)[:2]))                                            // no queue count
	f.Add(join([][]byte{u64(virtio.FeatureVersion1 | 1<<30), u64(0), u64(0)})) // no protocol features
	f.Add(join([][]byte{u64(virtio.FeatureVersion1 | 1<<30), u64(1), u64(0)})) // MQ with no queues
	f.Add(join([][]byte{{0xff, 1, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0, 0}}))    // oversized reply
	f.Add(join([][]byte{{1, 2, 3}}))                                           // short features
	f.Fuzz(func(t *testing.T, data []byte) {
		var replies [][]byte
		for len(data) > 0 && len(replies) < 32 {
			n := min(int(data[0]), len(data)-1)
			replies = append(replies, data[1:1+n])
			data = data[1+n:]
		}
		_ = dialFake(t, replies)
	})
}
