package httpload

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseProcStat reads the aggregate cpu line of a /proc/stat, not a per-CPU one.
func TestParseProcStat(t *testing.T) {
	b, err := os.ReadFile("testdata/proc-stat-before.txt")
	require.NoError(t, err)
	m, err := ParseProcStat(b)
	require.NoError(t, err)
	require.Equal(t, MachineCPU{User: 10132153, Nice: 290696, System: 3084719, Idle: 46828483, IOWait: 16683,
		IRQ: 0, SoftIRQ: 25195, Steal: 0}, m)

	_, err = ParseProcStat([]byte("cpu0 1 2 3 4 5 6 7 8\nintr 1\n"))
	require.ErrorContains(t, err, "no cpu line")
	_, err = ParseProcStat([]byte("cpu 1 2 3\n"))
	require.ErrorContains(t, err, "fields")
	_, err = ParseProcStat([]byte("cpu 1 2 x 4 5 6 7 8\n"))
	require.ErrorContains(t, err, "field 3")
}

// TestMachineCPUDelta takes the busy time between two /proc/stat readings: user 300 + nice 10
// + system 150 + irq 0 + softirq 50 ticks, leaving out idle (100), iowait (100) and steal (7).
func TestMachineCPUDelta(t *testing.T) {
	read := func(name string) MachineCPU {
		b, err := os.ReadFile("testdata/" + name)
		require.NoError(t, err)
		m, err := ParseProcStat(b)
		require.NoError(t, err)
		return m
	}
	d := read("proc-stat-after.txt").Sub(read("proc-stat-before.txt"))
	require.Equal(t, MachineCPU{User: 300, Nice: 10, System: 150, Idle: 100, IOWait: 100, SoftIRQ: 50, Steal: 7}, d)
	require.Equal(t, 5100*time.Millisecond, d.Busy())
}

// TestParsePIDStat reads a process's own and its children's CPU time, with a command name
// holding spaces and parentheses.
func TestParsePIDStat(t *testing.T) {
	stat := "4242 (dpdk (testpmd) x) S 1 4242 4242 0 -1 4194560 3047 0 0 0 1234 56 78 9 20 0 3 0 12345 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	self, children, err := parsePIDStat([]byte(stat))
	require.NoError(t, err)
	require.Equal(t, 12900*time.Millisecond, self)
	require.Equal(t, 870*time.Millisecond, children)

	_, _, err = parsePIDStat([]byte("4242 (short) S 1 2\n"))
	require.Error(t, err)
}

// TestRoundInterleaves checks that repeated rounds alternate the servers (A, B, C, A, B, C)
// and report each one's metrics under its name.
func TestRoundInterleaves(t *testing.T) {
	var order []string
	server := func(name string, rate float64) Server {
		return Server{Name: name, Measure: func(*testing.B) Measurement {
			order = append(order, name)
			return Measurement{Result: Result{ReqPerSec: rate, Mean: time.Millisecond}, CPUPerRequest: 10 * time.Microsecond}
		}}
	}
	servers := []Server{server("a", 1), server("b", 2), server("c", 3)}
	// testing.Benchmark calls the function at least twice (b.N = 1, then more): each call is
	// one round.
	res := testing.Benchmark(func(b *testing.B) {
		ms := Round(b, servers)
		require.Len(t, ms, 3)
		require.Equal(t, 2.0, ms[1].ReqPerSec)
	})
	require.GreaterOrEqual(t, len(order), 6)
	require.Zero(t, len(order)%3)
	for i, name := range order {
		require.Equal(t, []string{"a", "b", "c"}[i%3], name, "measurement %d", i)
	}
	require.Equal(t, 3.0, res.Extra["c-req/s"])
	require.Equal(t, 10.0, res.Extra["a-cpu-µs/req"])
}

// TestPinnings checks the two pinnings: one CPU each, or both free on both.
func TestPinnings(t *testing.T) {
	require.Equal(t, []Pinning{{"split", "0", "1"}, {"shared", "0-1", "0-1"}}, Pinnings)
}
