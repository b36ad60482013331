package observe_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/netstack/link/pcap"
	"github.com/unikit/unikit/observe"
)

// record is a pcap record of a frame of n bytes, all of them captured, stamped with second s.
func record(s uint32, n int) []byte {
	r := make([]byte, pcap.RecordHeaderLen+n)
	binary.LittleEndian.PutUint32(r[0:], s)
	binary.LittleEndian.PutUint32(r[8:], uint32(n))
	binary.LittleEndian.PutUint32(r[12:], uint32(n))
	for i := range n {
		r[pcap.RecordHeaderLen+i] = byte(s)
	}
	return r
}

// fileHeader is a microsecond pcap file header.
func fileHeader() []byte {
	h := make([]byte, pcap.FileHeaderLen)
	binary.LittleEndian.PutUint32(h[0:], pcap.MagicMicroseconds)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535)
	binary.LittleEndian.PutUint32(h[20:], pcap.LinkTypeEthernet)
	return h
}

// TestFramesRing writes a pcap stream in pieces of every size and checks that the ring keeps
// the newest records whole, cut to the snap length, oldest first.
func TestFramesRing(t *testing.T) {
	var stream []byte
	stream = append(stream, fileHeader()...)
	for s := range uint32(10) {
		stream = append(stream, record(s, 60+int(s)*30)...) // some longer than the snap length
	}
	for _, piece := range []int{1, 7, 16, 100, len(stream)} {
		f := observe.NewFrames(4)
		for rest := stream; len(rest) > 0; {
			n := min(piece, len(rest))
			w, err := f.Write(rest[:n])
			require.NoError(t, err)
			require.Equal(t, n, w)
			rest = rest[n:]
		}
		var out bytes.Buffer
		_, err := f.WriteTo(&out)
		require.NoError(t, err)
		b := out.Bytes()
		require.Equal(t, uint32(observe.FramesSnaplen), binary.LittleEndian.Uint32(b[16:]))
		b = b[pcap.FileHeaderLen:]
		for s := uint32(6); s < 10; s++ {
			require.Equal(t, s, binary.LittleEndian.Uint32(b[0:]), "piece %d", piece)
			caplen := int(binary.LittleEndian.Uint32(b[8:]))
			require.Equal(t, min(60+int(s)*30, observe.FramesSnaplen), caplen)
			require.Equal(t, uint32(60+s*30), binary.LittleEndian.Uint32(b[12:]), "original length kept")
			require.Equal(t, bytes.Repeat([]byte{byte(s)}, caplen), b[pcap.RecordHeaderLen:pcap.RecordHeaderLen+caplen])
			b = b[pcap.RecordHeaderLen+caplen:]
		}
		require.Empty(t, b)
	}
}

// TestFramesNoAllocs checks that keeping a frame in the ring allocates nothing.
func TestFramesNoAllocs(t *testing.T) {
	f := observe.NewFrames(64)
	_, err := f.Write(fileHeader())
	require.NoError(t, err)
	rec := record(1, 1514)
	res := allocs.Measure(1000, 0, func() { f.Write(rec) })
	require.Zero(t, res.Mallocs, "%v", res)
}
