package httpload

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// SockstatPage is the unit of /proc/net/sockstat's memory counts: the kernel accounts
// socket memory in pages (SK_MEM_QUANTUM, 4 KiB on every architecture Linux runs us on).
const SockstatPage = 4096

// TCPSockstat is the TCP line of /proc/net/sockstat.
type TCPSockstat struct {
	// InUse counts the TCP sockets of this network namespace that are not closed.
	InUse int64
	// MemBytes is the memory the kernel has charged to TCP sockets' queues (the line's mem, in
	// pages, × SockstatPage): what their send and receive queues hold and have reserved. It is
	// counted for the whole machine, every namespace together, and a socket whose queues are
	// empty holds little or none of it; the socket structures themselves are slab memory the
	// line does not count.
	MemBytes int64
}

// ReadTCPSockstat reads the TCP line of /proc/net/sockstat.
func ReadTCPSockstat() (TCPSockstat, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return TCPSockstat{}, err
	}
	return parseTCPSockstat(b)
}

// parseTCPSockstat parses the TCP line of a /proc/net/sockstat, such as
// "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 3".
func parseTCPSockstat(b []byte) (TCPSockstat, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		var st TCPSockstat
		var found int
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return TCPSockstat{}, fmt.Errorf("/proc/net/sockstat: TCP %s: %w", f[i], err)
			}
			switch f[i] {
			case "inuse":
				st.InUse = v
				found++
			case "mem":
				st.MemBytes = v * SockstatPage
				found++
			}
		}
		if found != 2 {
			return TCPSockstat{}, fmt.Errorf("/proc/net/sockstat: no inuse or mem in %q", sc.Text())
		}
		return st, nil
	}
	return TCPSockstat{}, fmt.Errorf("/proc/net/sockstat: no TCP line")
}
