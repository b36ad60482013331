package appliance

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// DefaultListen is the default of -listen.
const DefaultListen = "127.0.0.1:8080"

// ListenAddr is one entry of -listen: a host address and the stack port it stands for.
type ListenAddr struct {
	// Host is the host address, e.g. "127.0.0.1:8080"; port 0 picks a free port.
	Host string
	// Port is the stack port given with HOST:PORT=STACKPORT, or 0 for the next served port
	// without an entry of its own.
	Port uint16
}

// String returns the entry as -listen takes it.
func (a ListenAddr) String() string {
	if a.Port == 0 {
		return a.Host
	}
	return a.Host + "=" + strconv.Itoa(int(a.Port))
}

// parseListen parses -listen: HOST:PORT[=STACKPORT], comma-separated.
func parseListen(v string) ([]ListenAddr, error) {
	if v == "" {
		v = DefaultListen
	}
	var addrs []ListenAddr
	for entry := range strings.SplitSeq(v, ",") {
		host, stack, explicit := strings.Cut(entry, "=")
		a := ListenAddr{Host: host}
		if _, _, err := net.SplitHostPort(host); err != nil {
			return nil, fmt.Errorf("%w: -listen %q: %v", ErrBadFlag, entry, err)
		}
		if explicit {
			p, err := strconv.ParseUint(stack, 10, 16)
			if err != nil || p == 0 {
				return nil, fmt.Errorf("%w: -listen %q: the stack port after '=' must be 1 to 65535", ErrBadFlag, entry)
			}
			if slices.ContainsFunc(addrs, func(b ListenAddr) bool { return b.Port == uint16(p) }) {
				return nil, fmt.Errorf("%w: -listen names stack port %d twice", ErrBadFlag, p)
			}
			a.Port = uint16(p)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// hostAddrs returns the host address of each served port, in the order of ports: the entry
// that names the port, else the next entry that names none, else the first entry's host with
// the port's own number (or a free port if the first entry asks for port 0).
func hostAddrs(addrs []ListenAddr, ports []uint16) ([]string, error) {
	if len(ports) == 0 || len(addrs) == 0 {
		return nil, nil // nothing served, or a kind of network without -listen
	}
	hosts := make([]string, len(ports))
	for _, a := range addrs {
		if a.Port == 0 {
			continue
		}
		i := slices.Index(ports, a.Port)
		if i < 0 {
			return nil, fmt.Errorf("%w: -listen %s: the application serves no stack port %d (it serves %s)",
				ErrBadFlag, a, a.Port, portList(ports))
		}
		hosts[i] = a.Host
	}
	next := 0 // the next entry without a stack port
	for i := range ports {
		if hosts[i] != "" {
			continue
		}
		for next < len(addrs) && addrs[next].Port != 0 {
			next++
		}
		if next < len(addrs) {
			hosts[i] = addrs[next].Host
			next++
			continue
		}
		ip, port, _ := net.SplitHostPort(addrs[0].Host) // checked by parseListen
		if port != "0" {
			port = strconv.Itoa(int(ports[i]))
		}
		hosts[i] = net.JoinHostPort(ip, port)
	}
	for ; next < len(addrs); next++ {
		if addrs[next].Port == 0 {
			return nil, fmt.Errorf("%w: -listen %s: more addresses than the application's stack ports (%s)",
				ErrBadFlag, addrs[next], portList(ports))
		}
	}
	return hosts, nil
}

// portList returns ports as "80, 6060".
func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}
