package httpload

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// SocketMemory is the kernel memory charged to a set of TCP sockets, as ss(8) reports it
// from each socket's skmem.
type SocketMemory struct {
	// Sockets counts the sockets.
	Sockets int
	// Bytes is the sum over them of what the socket's receive queue holds (skmem r), what it
	// has queued to send (w) and what it has reserved ahead (f, forward alloc): the memory
	// the kernel charges to TCP for them, which /proc/net/sockstat's mem counts for every
	// socket of the machine.
	Bytes int64
}

// PortSocketMemory returns the memory of this namespace's established TCP sockets with port
// as their local or remote port: both ends of every connection to a server listening on it
// from this machine.
func PortSocketMemory(t testing.TB, port int) SocketMemory {
	t.Helper()
	return SocketMemoryIn(t, nil, port, BothEnds)
}

// SocketEnd selects which end of the connections to a port SocketMemoryIn counts.
type SocketEnd int

const (
	// BothEnds counts the sockets with the port as their local or remote port.
	BothEnds SocketEnd = iota
	// ServerEnd counts the sockets with the port as their local port: the server's.
	ServerEnd
	// ClientEnd counts the sockets with the port as their remote port: the clients'.
	ClientEnd
)

// SocketMemoryIn returns the memory of the established TCP sockets of ns (nil: this
// namespace) at the given end of the connections to port.
func SocketMemoryIn(t testing.TB, ns *netns.NS, port int, end SocketEnd) SocketMemory {
	t.Helper()
	ss := peers.Program(t, "ss", "iproute2")
	p := strconv.Itoa(port)
	filter := map[SocketEnd]string{
		BothEnds:  "( sport = :" + p + " or dport = :" + p + " )",
		ServerEnd: "( sport = :" + p + " )",
		ClientEnd: "( dport = :" + p + " )",
	}[end]
	args := []string{"-tmnH", "state", "established", filter}
	cmd := exec.Command(ss, args...)
	if ns != nil {
		cmd = ns.Command(context.Background(), ss, args...)
	}
	out, err := cmd.Output()
	require.NoError(t, err, "ss")
	m, err := parseSocketMemory(out)
	require.NoError(t, err)
	return m
}

// parseSocketMemory sums the skmem fields of ss -tm output.
func parseSocketMemory(out []byte) (SocketMemory, error) {
	var m SocketMemory
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), "skmem:(")
		if !ok {
			continue
		}
		fields, _, ok := strings.Cut(rest, ")")
		if !ok {
			return m, fmt.Errorf("ss: unterminated skmem in %q", sc.Text())
		}
		m.Sockets++
		for f := range strings.SplitSeq(fields, ",") {
			i := strings.IndexFunc(f, func(r rune) bool { return r >= '0' && r <= '9' })
			if i <= 0 {
				return m, fmt.Errorf("ss: skmem field %q", f)
			}
			switch f[:i] {
			case "r", "w", "f":
				v, err := strconv.ParseInt(f[i:], 10, 64)
				if err != nil {
					return m, fmt.Errorf("ss: skmem field %q: %w", f, err)
				}
				m.Bytes += v
			}
		}
	}
	return m, sc.Err()
}
