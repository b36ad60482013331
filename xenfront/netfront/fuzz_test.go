package netfront_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront/netfront"
	"github.com/unikit/unikit/xenfront/netif"
	"github.com/unikit/unikit/xenfront/xentest"
)

// FuzzResponses lets a malicious back end write arbitrary responses into netfront's RX or TX
// ring and publish an arbitrary producer index. Input: byte 0 picks the ring (even RX, odd
// TX), byte 1 is how far beyond the written responses the producer index jumps, the rest are
// raw response slots. netfront must not panic, must either consume them or fail with
// ErrBackend, must deliver only frames within bounds, and must give every grant back on Close.
func FuzzResponses(f *testing.F) {
	rx := func(rs ...netif.RxResponse) []byte {
		b := []byte{0, 0}
		for _, r := range rs {
			b = binary.LittleEndian.AppendUint16(b, r.ID)
			b = binary.LittleEndian.AppendUint16(b, r.Offset)
			b = binary.LittleEndian.AppendUint16(b, r.Flags)
			b = binary.LittleEndian.AppendUint16(b, uint16(r.Status))
		}
		return b
	}
	f.Add(rx(netif.RxResponse{ID: 0, Status: 60}))
	f.Add(rx(netif.RxResponse{ID: 0, Status: 60, Flags: netif.RxfMoreData}, netif.RxResponse{ID: 1, Status: 100}))
	f.Add(rx(netif.RxResponse{ID: 0, Offset: 4000, Status: 200}))
	f.Add(rx(netif.RxResponse{ID: 0, Status: 60, Flags: netif.RxfExtraInfo}, netif.RxResponseFromExtra(netif.GSOExtra(0, 1))))
	f.Add(rx(netif.RxResponse{ID: 0, Status: -1}))
	f.Add([]byte{0, 200})
	f.Add([]byte{1, 0, 5, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 1, 1, 0})
	f.Add([]byte{1, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 || len(in) > 2+8*300 {
			return
		}
		r := newRig(t, nil, &xentest.LoopbackConfig{DirectStore: true,
			Netback: xentest.NetbackConfig{MaxQueues: 1}})
		nb := r.lb.Netback
		jump := uint32(in[1])
		body := in[2:]
		if in[0]%2 == 0 {
			var rs []netif.RxResponse
			for ; len(body) >= 8; body = body[8:] {
				rs = append(rs, netif.RxResponse{ID: binary.LittleEndian.Uint16(body),
					Offset: binary.LittleEndian.Uint16(body[2:]), Flags: binary.LittleEndian.Uint16(body[4:]),
					Status: int16(binary.LittleEndian.Uint16(body[6:]))})
			}
			err := nb.InjectRx(0, rs, jump)
			require.NoError(t, err, "backend %v, front end err %v", nb.State(), r.lb.Err())
		} else {
			var rs []netif.TxResponse
			for ; len(body) >= 4; body = body[4:] {
				rs = append(rs, netif.TxResponse{ID: binary.LittleEndian.Uint16(body),
					Status: int16(binary.LittleEndian.Uint16(body[2:]))})
			}
			require.NoError(t, nb.InjectTx(0, rs, jump))
		}
		require.Eventually(t, func() bool { return nb.Consumed(0) || r.lb.Err() != nil },
			5*time.Second, 50*time.Microsecond, "netfront neither consumed the responses nor failed")
		if err := r.lb.Err(); err != nil {
			require.ErrorIs(t, err, netfront.ErrBackend)
		}
		frames, bytes := r.front.Totals()
		require.LessOrEqual(t, bytes, frames*link.MaxGSOSize)
		require.NoError(t, r.lb.Close())
		require.Zero(t, r.lb.Hypervisor.Granted(1), "grants left after Close")
	})
}
