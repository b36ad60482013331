package httpload

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// SocketSlabCaches are the slab caches a connected kernel TCP socket with a file descriptor
// holds objects of, beyond what its queues hold: its struct tcp_sock (TCP, TCPv6), its socket
// inode (sock_inode_cache), its file (filp), dentry and their LSM blobs (lsm_inode_cache,
// lsm_file_cache), and the epoll item its server watches it with (eventpoll_epi, ep_head;
// eventpoll_pwq on older kernels): about 4 KiB together. No socket memory count sees them
// (ss -tm's skmem, /proc/net/sockstat's mem).
var SocketSlabCaches = []string{"TCP", "TCPv6", "sock_inode_cache", "filp", "dentry",
	"lsm_inode_cache", "lsm_file_cache", "eventpoll_epi", "ep_head", "eventpoll_pwq"}

// ReadSlabBytes returns the kernel's slab memory in use in the named caches (all when none
// are named): the sum over them of their active objects × object size, from /proc/slabinfo.
// A delta of it around opening connections is what their sockets cost the kernel; the sum is
// the whole machine's, every namespace together, and other work moves the shared caches
// (filp, dentry) too. Reading /proc/slabinfo needs root.
func ReadSlabBytes(caches ...string) (int64, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	return parseSlabinfo(b, caches)
}

// parseSlabinfo sums active objects × object size over the named caches (all when none are
// named) of a /proc/slabinfo (version 2.1: "name active_objs num_objs objsize objperslab
// pagesperslab : ...").
func parseSlabinfo(b []byte, caches []string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var total int64
	var seen int
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "slabinfo -") || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return 0, fmt.Errorf("/proc/slabinfo: short line %q", line)
		}
		active, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/slabinfo: %s active objects: %w", f[0], err)
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/slabinfo: %s object size: %w", f[0], err)
		}
		if len(caches) == 0 || slices.Contains(caches, f[0]) {
			total += active * size
		}
		seen++
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if seen == 0 {
		return 0, fmt.Errorf("/proc/slabinfo: no caches")
	}
	return total, nil
}
