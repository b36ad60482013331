package xenstore_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/xenfront/xenstore"
)

// FuzzMessage decodes arbitrary bytes as xenstore messages, as a guest reads xenstored's
// replies: decoding never panics, and whatever decodes re-encodes to the same bytes.
func FuzzMessage(f *testing.F) {
	ok, _ := xenstore.AppendMessage(nil, xenstore.Header{Type: xenstore.MsgRead, ReqID: 1}, []byte("OK\x00"))
	ev, _ := xenstore.AppendMessage(nil, xenstore.Header{Type: xenstore.MsgWatchEvent}, []byte("/a/b\x00tok\x00"))
	f.Add(ok)
	f.Add(ev)
	f.Add([]byte{16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, n, err := xenstore.ParseMessage(b)
		if err != nil {
			return
		}
		require.LessOrEqual(t, n, len(b))
		require.LessOrEqual(t, len(p), xenstore.PayloadMax)
		again, err := xenstore.AppendMessage(nil, h, p)
		require.NoError(t, err)
		require.Equal(t, b[:n], again)
		_ = xenstore.SplitNul(p)
		_, _, _ = xenstore.ParseWatchEvent(p)
		// The streaming reader agrees with the slice decoder.
		buf := make([]byte, xenstore.HeaderLen+xenstore.PayloadMax)
		h2, p2, err := xenstore.ReadMessage(bytes.NewReader(b), buf)
		require.NoError(t, err)
		require.Equal(t, h, h2)
		require.Equal(t, p, p2)
	})
}
