package httpload

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// MachineCPU is the aggregate "cpu" line of /proc/stat: the time all CPUs together spent in
// each state since boot, in clock ticks (proc_stat(5)).
type MachineCPU struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// ParseProcStat returns the aggregate CPU times of a /proc/stat.
func ParseProcStat(stat []byte) (MachineCPU, error) {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return MachineCPU{}, fmt.Errorf("/proc/stat: %d fields on the cpu line, want at least 8 times", len(f)-1)
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return MachineCPU{}, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
			}
			v[i] = n
		}
		return MachineCPU{User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7]}, nil
	}
	return MachineCPU{}, fmt.Errorf("/proc/stat: no cpu line")
}

// ReadMachineCPU reads /proc/stat's aggregate CPU times.
func ReadMachineCPU(t testing.TB) MachineCPU {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	require.NoError(t, err)
	m, err := ParseProcStat(b)
	require.NoError(t, err)
	return m
}

// Busy is the time the CPUs worked: user, nice, system, irq and softirq, so neither idle nor
// iowait, nor steal (another guest's time). Guest time is counted inside user and nice.
func (m MachineCPU) Busy() time.Duration {
	return ticks(m.User + m.Nice + m.System + m.IRQ + m.SoftIRQ)
}

// Sub returns the times of m since earlier.
func (m MachineCPU) Sub(earlier MachineCPU) MachineCPU {
	return MachineCPU{User: m.User - earlier.User, Nice: m.Nice - earlier.Nice, System: m.System - earlier.System,
		Idle: m.Idle - earlier.Idle, IOWait: m.IOWait - earlier.IOWait, IRQ: m.IRQ - earlier.IRQ,
		SoftIRQ: m.SoftIRQ - earlier.SoftIRQ, Steal: m.Steal - earlier.Steal}
}

// ticks converts clock ticks to a duration.
func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// CPUMeter measures the CPU time a piece of work costs the whole machine (/proc/stat) and a
// set of processes (/proc/PID/stat, with the children they waited for).
type CPUMeter struct {
	t       testing.TB
	pids    []int
	machine MachineCPU
	procs   time.Duration
}

// StartCPU starts measuring the whole machine and the processes pids.
func StartCPU(t testing.TB, pids ...int) *CPUMeter {
	t.Helper()
	m := &CPUMeter{t: t, pids: pids}
	m.procs = m.procTime()
	m.machine = ReadMachineCPU(t)
	return m
}

// Stop returns the CPU time the whole machine and the processes used since StartCPU.
func (m *CPUMeter) Stop() (machine, procs time.Duration) {
	m.t.Helper()
	machine = ReadMachineCPU(m.t).Sub(m.machine).Busy()
	return machine, m.procTime() - m.procs
}

func (m *CPUMeter) procTime() time.Duration {
	var d time.Duration
	for _, pid := range m.pids {
		d += CPUTimeWithChildren(m.t, pid)
	}
	return d
}
