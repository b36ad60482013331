package appliance

import (
	"bufio"
	"os"
	"path"
	"strconv"
	"strings"
)

// memoryAvailable returns how much memory the process may use, and where that figure comes
// from: the smallest memory limit of its cgroup and the cgroup's ancestors (cgroup v2's
// memory.max, v1's memory.limit_in_bytes), or the machine's memory (MemTotal in
// /proc/meminfo) if that is smaller or no cgroup limits it. It returns 0 if neither is known.
func memoryAvailable() (int64, string) {
	avail, from := meminfoTotal(), "the machine's memory"
	if cg, where := cgroupLimit(); cg > 0 && (avail <= 0 || cg < avail) {
		avail, from = cg, where
	}
	return avail, from
}

// meminfoTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func meminfoTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kib << 10
		}
	}
	return 0
}

// unlimited is the smallest cgroup limit taken to mean none: v1 writes "no limit" as the
// largest page-aligned int64, v2 as "max".
const unlimited = 1 << 62

// cgroupLimit returns the smallest memory limit on the process's cgroup and its ancestors, and
// the file it was read from; 0 if none is set or the files cannot be read.
func cgroupLimit() (int64, string) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, ""
	}
	var best int64
	var where string
	for line := range strings.Lines(string(b)) {
		// hierarchy-ID:controller-list:cgroup-path
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		var root, file string
		switch {
		case f[0] == "0" && f[1] == "":
			root, file = "/sys/fs/cgroup", "memory.max"
		case strings.Contains(","+f[1]+",", ",memory,"):
			root, file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		for dir := path.Clean("/" + f[2]); ; dir = path.Dir(dir) {
			p := path.Join(root, dir, file)
			if v, ok := readLimit(p); ok && (best == 0 || v < best) {
				best, where = v, p
			}
			if dir == "/" {
				break
			}
		}
	}
	return best, where
}

// readLimit reads a cgroup memory limit file; ok is false if it cannot be read or sets no
// limit.
func readLimit(p string) (int64, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v <= 0 || v >= unlimited { // "max" fails to parse
		return 0, false
	}
	return v, true
}
