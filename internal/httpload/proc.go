package httpload

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// Pinned returns a command that runs name with args under `taskset -c cpus`, inside ns when
// it is not nil. Both taskset and `ip netns exec` exec the program in place, so the started
// command's PID is the program's, for CPUTime and PeakRSS.
func Pinned(t testing.TB, ns *netns.NS, cpus, name string, args ...string) *exec.Cmd {
	t.Helper()
	args = append([]string{"-c", cpus, name}, args...)
	taskset := peers.Program(t, "taskset", "util-linux")
	if ns != nil {
		return ns.Command(context.Background(), taskset, args...)
	}
	return exec.Command(taskset, args...)
}

// clockTicks is sysconf(_SC_CLK_TCK) on Linux, the unit of /proc/<pid>/stat's times.
const clockTicks = 100

// CPUTime returns the user and system CPU time the process has used, from /proc/<pid>/stat.
func CPUTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	self, _ := procCPU(t, pid)
	return self
}

// CPUTimeWithChildren returns CPUTime plus the CPU time of the process's children it has
// waited for (cutime and cstime): all of a server's work when it hands requests to children.
func CPUTimeWithChildren(t testing.TB, pid int) time.Duration {
	t.Helper()
	self, children := procCPU(t, pid)
	return self + children
}

func procCPU(t testing.TB, pid int) (self, children time.Duration) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	self, children, err = parsePIDStat(b)
	require.NoError(t, err)
	return self, children
}

// parsePIDStat returns a process's own CPU time (utime + stime) and its waited-for
// children's (cutime + cstime) from its /proc/<pid>/stat, fields 14 to 17 of proc_pid_stat(5).
func parsePIDStat(stat []byte) (self, children time.Duration, err error) {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, 0, fmt.Errorf("/proc/PID/stat: no command in parentheses")
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/PID/stat: %d fields after the command", len(f))
	}
	var v [4]int64
	for k := range v {
		if v[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/PID/stat field %d: %w", 14+k, err)
		}
	}
	return time.Duration(v[0]+v[1]) * time.Second / clockTicks, time.Duration(v[2]+v[3]) * time.Second / clockTicks, nil
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM in /proc/<pid>/status).
func PeakRSS(t testing.TB, pid int) int64 { return statusBytes(t, pid, "VmHWM:") }

// RSS returns the process's resident set size in bytes (VmRSS in /proc/<pid>/status).
func RSS(t testing.TB, pid int) int64 { return statusBytes(t, pid, "VmRSS:") }

// statusBytes returns the size field (for example "VmRSS:") of /proc/<pid>/status, in bytes.
func statusBytes(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kib << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
