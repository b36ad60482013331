package socket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// FuzzDecode feeds arbitrary byte streams to the link's reader and checks that it never
// panics, delivers only frames of valid length that really are in the stream, and never holds
// more buffer memory than the frames it was given need. It then builds a valid stream of
// frames cut from the same bytes with the transmit encoder and checks that it round-trips.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{}, uint16(1500))
	f.Add(record(testFrame(60, 1)), uint16(60))
	f.Add(append(record(testFrame(14, 0)), record(testFrame(1514, 3))...), uint16(14))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5}, uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint16(2000))
	f.Add([]byte{0, 1, 0, 0}, uint16(9000))
	f.Add([]byte{0, 0, 0, 100, 1, 2}, uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		l, err := newLink(&Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		rec := linktest.NewRecorder(l, nil)
		l.recv = rec
		err = l.receive(&chunkReader{data: data, chunk: int(chunk)%4096 + 1})
		got := frameData(rec.Frames())

		// Exactly the valid records of the stream are delivered, in order.
		want := referenceDecode(data, l.maxFrame)
		if len(got) != len(want) {
			t.Fatalf("delivered %d frames, want %d", len(got), len(want))
		}
		total := 0
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d differs", i)
			}
			total += len(got[i])
		}
		if st := l.Stats(); st.RxFrames != uint64(len(got)) || st.RxBytes != uint64(total) {
			t.Fatalf("stats %+v for %d frames, %d bytes", st, len(got), total)
		}
		// Frames are released as they arrive, so the pool holds at most one batch plus one
		// frame in flight, however long a prefix claims to be.
		if a := l.rx.pool.allocated(); a > (rxBatch+1)*l.maxFrame || a > len(data)*(l.maxFrame/MinFrameLen+1)+l.maxFrame {
			t.Fatalf("pool holds %d bytes after a %d-byte stream", a, len(data))
		}
		if err != nil && !errors.Is(err, ErrOversized) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("unexpected error %v", err)
		}

		// Round trip: cut data into frames of 14..chunk+14 bytes, encode, decode.
		want = want[:0]
		var frames []link.Frame
		size := int(chunk)%2000 + MinFrameLen
		for len(data) > 0 {
			n := min(size, len(data))
			fr := append(make([]byte, 0, MinFrameLen), data[:n]...)
			for len(fr) < MinFrameLen {
				fr = append(fr, 0)
			}
			data = data[n:]
			want = append(want, fr)
			frames = append(frames, link.Frame{Segments: [][]byte{fr[:len(fr)/2], fr[len(fr)/2:]}})
		}
		var stream []byte
		for i := range frames {
			stream = appendRecord(stream, frames[i].Segments, frames[i].Len())
		}
		l2, _ := newLink(&Config{Logger: slog.New(slog.DiscardHandler)})
		rec2 := linktest.NewRecorder(l2, nil)
		l2.recv = rec2
		if err := l2.receive(&chunkReader{data: stream, chunk: int(chunk)%4096 + 1}); err != nil {
			t.Fatalf("valid stream: %v", err)
		}
		back := frameData(rec2.Frames())
		if len(back) != len(want) {
			t.Fatalf("round trip: %d frames back, want %d", len(back), len(want))
		}
		for i := range want {
			if !bytes.Equal(back[i], want[i]) {
				t.Fatalf("round trip: frame %d differs", i)
			}
		}
	})
}

// referenceDecode is the simplest reading of the format: the frames of the complete records
// of 14..maxFrame bytes, up to the first record that is oversized or incomplete.
func referenceDecode(data []byte, maxFrame int) [][]byte {
	var frames [][]byte
	for len(data) >= hdrLen {
		n := uint64(binary.BigEndian.Uint32(data))
		if n > uint64(maxFrame) || uint64(len(data)-hdrLen) < n {
			break
		}
		if n >= MinFrameLen {
			frames = append(frames, data[hdrLen:hdrLen+n])
		}
		data = data[hdrLen+n:]
	}
	return frames
}

// frameData returns the bytes of recorded frames.
func frameData(rs []linktest.Received) [][]byte {
	var b [][]byte
	for _, r := range rs {
		b = append(b, r.Data)
	}
	return b
}

// chunkReader returns data at most chunk bytes per Read, like a stream socket.
type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}
