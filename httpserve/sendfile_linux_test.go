//go:build amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || mips64 || mips64le

package httpserve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/kv"
	"golang.org/x/sys/unix"
)

// bigSite holds a 1 MiB binary file (no compressed variants), a 4 KiB page and a 64 KiB
// HTML page (which gets gzip and brotli variants).
func bigSite(t testing.TB) (*kv.Mem, map[string][]byte) {
	files := map[string][]byte{
		"big.bin":    make([]byte, sendfileMax),
		"huge.bin":   make([]byte, 1<<20),
		"small.html": bytes.Repeat([]byte("<p>hello, unikernel world</p>\n"), 200)[:4096],
		"mid.html":   bytes.Repeat([]byte("<p>hello, unikernel world</p>\n"), 3000)[:64<<10],
	}
	for _, name := range []string{"big.bin", "huge.bin"} {
		for i := range files[name] {
			files[name][i] = byte(i*7 + i>>11)
		}
	}
	m := kv.NewMem(&kv.MemConfig{Encodings: []string{kv.EncodingBrotli, kv.EncodingGzip}})
	for k, v := range files {
		require.NoError(t, m.Set(k, v))
	}
	return m, files
}

// sealedFile returns the sealed file of the identity variant of path on srv's default site, or
// nil if it has none.
func sealedFile(t *testing.T, srv *Server, path string) *os.File {
	var lower [256]byte
	r, _ := srv.siteFor("a", &lower).routeFor(path, nil)
	require.Equal(t, routeContent, r.kind, path)
	v := r.vars[0]
	v.sealed.once.Do(func() {}) // the file is set before Do returns; this orders the read after it
	return v.sealed.f
}

// TestSendfileResponses proves the kernel socket's write path: pipelined requests mixing
// bodies sent from sealed files (whole, a range, a compressed variant) with small ones
// written from memory, and a HEAD, come back byte for byte, in order, on one connection.
func TestSendfileResponses(t *testing.T) {
	store, files := bigSite(t)
	srv := New(&Config{Store: store})
	addr := startServer(t, srv)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	reqs := []struct{ raw, path string }{
		{"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", "big.bin"},
		{"GET /small.html HTTP/1.1\r\nHost: a\r\n\r\n", "small.html"},
		{"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=1000-300000\r\n\r\n", "big.bin"},
		{"HEAD /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", "big.bin"},
		{"GET /mid.html HTTP/1.1\r\nHost: a\r\n\r\n", "mid.html"},
		{"GET /mid.html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", "mid.html"},
		{"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", "big.bin"},
		{"GET /huge.bin HTTP/1.1\r\nHost: a\r\n\r\n", "huge.bin"},
	}
	var all strings.Builder
	for _, r := range reqs {
		all.WriteString(r.raw)
	}
	_, err = io.WriteString(c, all.String())
	require.NoError(t, err)
	br := bufio.NewReader(c)
	for i, r := range reqs {
		method := "GET"
		if strings.HasPrefix(r.raw, "HEAD") {
			method = "HEAD"
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		require.NoError(t, err, "response %d", i)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err, "response %d", i)
		want := files[r.path]
		switch {
		case method == "HEAD":
			require.Empty(t, body, "response %d", i)
			require.Equal(t, int64(len(want)), resp.ContentLength)
		case resp.StatusCode == http.StatusPartialContent:
			require.Equal(t, want[1000:300001], body, "response %d", i)
		case resp.Header.Get("Content-Encoding") == "gzip":
			e, err := store.Lookup(r.path)
			require.NoError(t, err)
			v, ok := e.Variant(kv.EncodingGzip)
			require.True(t, ok)
			require.Equal(t, v.Data, body, "response %d", i)
		default:
			require.Equal(t, http.StatusOK, resp.StatusCode, "response %d", i)
			require.Equal(t, want, body, "response %d", i)
		}
	}
	// big.bin and mid.html went out through sealed files; small.html, under sendfileMin, and
	// huge.bin, over sendfileMax, were written from memory.
	require.NotNil(t, sealedFile(t, srv, "/big.bin"))
	require.NotNil(t, sealedFile(t, srv, "/mid.html"))
	require.Nil(t, sealedFile(t, srv, "/small.html"))
	require.Nil(t, sealedFile(t, srv, "/huge.bin"))
}

// TestSendfileWriteTimeout proves that a body sent from a sealed file to a client that does
// not read ends at the write deadline, closing the connection, as a written body does.
func TestSendfileWriteTimeout(t *testing.T) {
	store, _ := bigSite(t)
	addr := startServer(t, New(&Config{Store: store, WriteTimeout: 200 * time.Millisecond}))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	// Enough requests that their responses cannot fit in the two sockets' buffers (a few MiB
	// each on loopback).
	_, err = io.WriteString(c, strings.Repeat("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", 64))
	require.NoError(t, err)
	time.Sleep(time.Second) // the server gives up after 200 ms without room
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, c)
	if err != nil { // a reset rather than an orderly close: the server closed with data unread
		require.True(t, errors.Is(err, syscall.ECONNRESET), "%v", err)
	}
	require.Less(t, n, int64(64<<20), "the server sent every response to a client that did not read")
}

// TestSealBody proves that a sealed body file holds the bytes and refuses to change.
func TestSealBody(t *testing.T) {
	data := bytes.Repeat([]byte("sealed"), 10000)
	f := sealBody(data)
	require.NotNil(t, f)
	defer f.Close()
	got := make([]byte, len(data)+1)
	n, err := f.ReadAt(got, 0)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, data, got[:n])
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, syscall.EPERM)
	require.ErrorIs(t, f.Truncate(10), syscall.EPERM)
}

// TestSendfileNoAlloc proves that a GET whose body goes out with sendfile makes no heap
// allocation once the body's file exists.
func TestSendfileNoAlloc(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	m := kv.NewMem(nil)
	require.NoError(t, m.Set("half.bin", make([]byte, 512<<10)))
	addr := startServer(t, New(&Config{Store: m}))
	for _, req := range []string{
		"GET /half.bin HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /half.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=4096-\r\n\r\n",
	} {
		cc := newCachedClient(t, addr, req)
		allocs.NoGC(t)
		for range 10 {
			require.NoError(t, cc.do())
		}
		var err error
		r := allocs.Measure(200, 0, func() {
			if e := cc.do(); e != nil {
				err = e
			}
		}).Per(1, "requests")
		require.NoError(t, err)
		require.Zero(t, r.Mallocs, "request %q: %v", req, r)
	}
}

// TestSealedBound proves that a server keeps no more sealed body files open than its bound: a
// large body first sent when the bound is reached is written from memory, whole.
func TestSealedBound(t *testing.T) {
	store, files := bigSite(t)
	srv := New(&Config{Store: store})
	srv.seals.max = 1
	addr := startServer(t, srv)
	for _, path := range []string{"big.bin", "mid.html"} {
		resp, err := http.Get("http://" + addr + "/" + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, files[path], body, path)
	}
	require.NotNil(t, sealedFile(t, srv, "/big.bin"))
	require.Nil(t, sealedFile(t, srv, "/mid.html"))
	require.Equal(t, int64(1), srv.seals.open.Load())
}

// smallBufListener hands out its connections with a send buffer of a few KiB, so that the
// server's writes to them fill it and wait for room, in every phase of a response.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if err := tc.SetWriteBuffer(4096); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// TestKernelWriterWaits proves the kernel socket's write path when the socket is full at any
// point: pipelined responses whose heads, small bodies and sealed-file bodies meet a send
// buffer of a few KiB and a client reading in small pieces (so that the bytes before a
// sealed body, sent with MSG_MORE, and the body itself both wait for room) come back byte
// for byte, in order.
func TestKernelWriterWaits(t *testing.T) {
	store, files := bigSite(t)
	srv := New(&Config{Store: store})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := serveOn(t, srv, smallBufListener{ln})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(4096))
	type want struct {
		path       string
		start, end int // the range asked for, or 0, 0 for the whole body
	}
	var raw strings.Builder
	var wants []want
	for i := range 4 {
		// Small answers queue more than the send buffer holds ahead of each sealed body.
		for range 4 {
			raw.WriteString("GET /small.html HTTP/1.1\r\nHost: a\r\n\r\n")
			wants = append(wants, want{path: "small.html"})
		}
		if i%2 == 0 {
			raw.WriteString("GET /mid.html HTTP/1.1\r\nHost: a\r\n\r\n")
			wants = append(wants, want{path: "mid.html"})
		} else {
			start := 4096*i + i
			fmt.Fprintf(&raw, "GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=%d-%d\r\n\r\n", start, start+39999)
			wants = append(wants, want{"big.bin", start, start + 40000})
		}
	}
	go io.WriteString(c, raw.String())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	br := bufio.NewReaderSize(slowReader{c}, 16)
	for i, w := range wants {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "response %d", i)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err, "response %d", i)
		if w.end == 0 {
			require.Equal(t, http.StatusOK, resp.StatusCode, "response %d", i)
			require.Equal(t, files[w.path], body, "response %d", i)
		} else {
			require.Equal(t, http.StatusPartialContent, resp.StatusCode, "response %d", i)
			require.Equal(t, files[w.path][w.start:w.end], body, "response %d", i)
		}
	}
	require.NotNil(t, sealedFile(t, srv, "/mid.html"))
	require.NotNil(t, sealedFile(t, srv, "/big.bin"))
}

// slowReader reads at most 1500 bytes at a time, yielding between reads, so that the server
// meets a full socket again and again.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	if len(p) > 1500 {
		p = p[:1500]
	}
	runtime.Gosched()
	return s.r.Read(p)
}

// TestKernelRead proves the kernel socket's read path (a raw read(2) under the poller): a
// request that arrives a few bytes at a time is answered, the connection then outlives
// nothing past the idle timeout, and a client that half-closes gets its answer and an
// orderly end.
func TestKernelRead(t *testing.T) {
	store, files := bigSite(t)
	addr := startServer(t, New(&Config{Store: store, IdleTimeout: 300 * time.Millisecond}))

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	req := "GET /small.html HTTP/1.1\r\nHost: a\r\n\r\n"
	for i := 0; i < len(req); i += 5 {
		_, err := io.WriteString(c, req[i:min(i+5, len(req))])
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, files["small.html"], body)
	// Idle past the timeout: the server's read ends at its deadline and it closes.
	start := time.Now()
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
	require.Less(t, time.Since(start), 5*time.Second)

	h, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer h.Close()
	_, err = io.WriteString(h, "GET /mid.html HTTP/1.1\r\nHost: a\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, h.(*net.TCPConn).CloseWrite())
	require.NoError(t, h.SetReadDeadline(time.Now().Add(10*time.Second)))
	hr := bufio.NewReader(h)
	resp, err = http.ReadResponse(hr, nil)
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, files["mid.html"], body)
	_, err = hr.ReadByte() // the server read the end of the stream and closed
	require.ErrorIs(t, err, io.EOF)
}

// TestSealedFilesFollowContent proves that a sealed body file lives as long as the content it
// holds: when the store's content changes, the new body is served byte for byte from a new
// file, and the old file is closed, its place in the server's bound given back, once the old
// variant is collected.
func TestSealedFilesFollowContent(t *testing.T) {
	m := kv.NewMem(nil)
	first := bytes.Repeat([]byte("first "), 20000)
	require.NoError(t, m.Set("body.bin", first))
	srv := New(&Config{Store: m})
	addr := startServer(t, srv)
	get := func(want []byte) {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/body.bin")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, want, body)
	}
	get(first)
	old := sealedFile(t, srv, "/body.bin")
	require.NotNil(t, old)
	oldFd := old.Fd() // the file itself stays with its variant, which the test does not hold
	require.Equal(t, int64(1), srv.seals.open.Load())

	second := bytes.Repeat([]byte("second "), 20000)
	require.NoError(t, m.Set("body.bin", second))
	get(second)
	require.NotNil(t, sealedFile(t, srv, "/body.bin"))
	require.Eventually(t, func() bool {
		runtime.GC()
		return srv.seals.open.Load() == 1
	}, 10*time.Second, 10*time.Millisecond, "the replaced body's file was not closed")
	// The old descriptor is closed (or already reused for another file, never the old body).
	var st unix.Stat_t
	if err := unix.Fstat(int(oldFd), &st); err == nil {
		require.NotEqual(t, int64(len(first)), st.Size, "the replaced body's file is still open")
	}
	get(second)
}
