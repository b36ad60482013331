package appliance

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the memory the appliance may use that the default
// -memory-limit gives the Go runtime: the rest is for what the runtime does not count (the
// kernel's buffers for the process's sockets, its page tables, thread stacks outside Go).
const memoryLimitShare = 0.9

// memoryLimit is the value of -memory-limit: "auto", "off", or a size.
type memoryLimit struct {
	auto  bool
	off   bool
	bytes int64
}

// String implements flag.Value.
func (m *memoryLimit) String() string {
	switch {
	case m == nil || m.auto:
		return "auto"
	case m.off:
		return "off"
	}
	return formatSize(m.bytes)
}

// Set implements flag.Value: "auto", "off", or a size as GOMEMLIMIT writes it (a number of
// bytes with an optional unit B, KiB, MiB, GiB or TiB).
func (m *memoryLimit) Set(v string) error {
	switch v {
	case "auto":
		*m = memoryLimit{auto: true}
		return nil
	case "off":
		*m = memoryLimit{off: true}
		return nil
	}
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*m = memoryLimit{bytes: n}
	return nil
}

// sizeUnits are the units of parseSize, largest first so that "MiB" is not read as "B".
var sizeUnits = []struct {
	suffix string
	scale  int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseSize parses a size as GOMEMLIMIT does: "512MiB", "2GiB", "1048576".
func parseSize(v string) (int64, error) {
	num, scale := v, int64(1)
	for _, u := range sizeUnits {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			num, scale = s, u.scale
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/scale {
		return 0, fmt.Errorf("%q is not a size: want auto, off, or bytes with an optional unit B, KiB, MiB, GiB or TiB, e.g. 512MiB", v)
	}
	return n * scale, nil
}

// formatSize writes n in the largest unit that divides it.
func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if n >= u.scale && n%u.scale == 0 {
			return strconv.FormatInt(n/u.scale, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// apply sets the Go runtime's soft memory limit as m says and returns a description of it
// for the log. "auto" leaves a limit set by GOMEMLIMIT alone and otherwise sets
// memoryLimitShare of the memory the process may use (the smaller of its cgroup's limit and
// the machine's memory), where that is known.
func (m *memoryLimit) apply() string {
	switch {
	case m.off:
		debug.SetMemoryLimit(math.MaxInt64)
		return "off"
	case !m.auto:
		debug.SetMemoryLimit(m.bytes)
		return formatSize(m.bytes)
	case os.Getenv("GOMEMLIMIT") != "":
		return "GOMEMLIMIT=" + os.Getenv("GOMEMLIMIT")
	}
	avail, from := memoryAvailable()
	if avail <= 0 {
		return "none (the memory available is not known on this system)"
	}
	limit := int64(float64(avail) * memoryLimitShare)
	debug.SetMemoryLimit(limit)
	return fmt.Sprintf("%d MiB (%.0f%% of %d MiB, %s)", limit>>20, 100*memoryLimitShare, avail>>20, from)
}
