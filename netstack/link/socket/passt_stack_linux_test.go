package socket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
)

// TestPasst: a stack on a socket link to passt, with passt's guest address configured
// statically, serves HTTP on port 80; a host client fetches it through passt's port forward.
func TestPasst(t *testing.T) {
	p := startPasst(t)
	checkPasstHTTP(t, p, &netstack.NICConfig{Addresses: []netip.Prefix{p.Guest}, Gateway: p.Gateway, NoDHCP: true}, 0)
}

// TestPasstDHCP: the stack takes a DHCP lease from passt (with passt's MTU of 65520), then a
// host client reaches the stack's HTTP server through passt's port forward.
func TestPasstDHCP(t *testing.T) {
	// passt (0.0~git20230309) ignores the BROADCAST flag: it sends OFFER and ACK to the
	// offered address at the client's MAC, which the DHCP client must accept.
	p := startPasst(t)
	checkPasstHTTP(t, p, &netstack.NICConfig{}, 65520)
}

// checkPasstHTTP connects a stack configured by cfg to passt over a link with the given MTU
// (0: the default), serves a 3 MiB body on port 80 and fetches it from the host through
// passt's forward of 127.0.0.1:HostPort.
func checkPasstHTTP(t *testing.T, p *passtPeer, cfg *netstack.NICConfig, mtu int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc := quietConfig(t)
	lc.MTU = mtu
	l, err := Dial(ctx, "unix", p.Sock, lc)
	require.NoError(t, err)
	s := newStack(t)
	nic, err := s.AddNIC(l, cfg)
	require.NoError(t, err)
	_, err = nic.WaitConfigured(ctx)
	require.NoError(t, err, "link stats %+v", l.Stats())
	require.Contains(t, nic.Addresses(), p.Guest, "the address passt offers")

	body := make([]byte, 3<<20)
	for i := range body {
		body[i] = byte(i * 7 >> 3)
	}
	sum := sha256.Sum256(body)
	ln, err := s.Listen("tcp", ":80")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Digest", hex.EncodeToString(sum[:]))
		w.Write(body)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return p.dialHost(ctx) },
	}}
	defer client.CloseIdleConnections()
	url := "http://127.0.0.1:" + strconv.Itoa(p.HostPort) + "/"
	// passt listens on the forwarded port from its start; the stack may still be resolving the
	// gateway's MAC on the first connection, so retry a refused or reset first attempt.
	var resp *http.Response
	require.Eventually(t, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err = client.Do(req)
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "GET %s through passt", url)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	require.NoError(t, err)
	require.Equal(t, int64(len(body)), n)
	require.Equal(t, sum[:], h.Sum(nil))
	require.Equal(t, hex.EncodeToString(sum[:]), resp.Header.Get("X-Digest"))
	st := l.Stats()
	require.Zero(t, st.RxErrors+st.TxErrors, "link stats %+v", st)
	t.Logf("link stats: %+v", st)
}
