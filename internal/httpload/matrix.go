package httpload

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Size is one file size of the static HTTP matrix.
type Size struct {
	Name  string // sub-benchmark name: "4KiB"
	Bytes int
}

// Sizes and Conns are the static HTTP matrix of the bench issue: every file size is loaded
// over every number of keep-alive connections.
var (
	Sizes = []Size{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}
	Conns = []int{1, 50, 500}
)

// ForMatrix runs point as sub-benchmarks of b named SIZE/cCONNS (for example 64KiB/c500),
// over Sizes × Conns.
func ForMatrix(b *testing.B, point func(b *testing.B, size Size, conns int)) {
	for _, sz := range Sizes {
		b.Run(sz.Name, func(b *testing.B) {
			for _, c := range Conns {
				b.Run("c"+strconv.Itoa(c), func(b *testing.B) { point(b, sz, c) })
			}
		})
	}
}

// SecondsEnv is the environment variable that sets how long each wrk measurement lasts, in
// whole seconds, in the benchmarks that use Seconds.
const SecondsEnv = "UNIKIT_WRK_SECONDS"

// Seconds returns the duration SecondsEnv sets, or def if it is unset or not a positive
// number.
func Seconds(def time.Duration) time.Duration {
	if n, err := strconv.Atoi(os.Getenv(SecondsEnv)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return def
}

// Page returns size bytes of HTML-like text, the body every static HTTP benchmark serves.
func Page(size int) []byte {
	const line = "<p>hello, unikernel world</p>\n"
	page := make([]byte, 0, size+len(line))
	for len(page) < size {
		page = append(page, line...)
	}
	return page[:size]
}

// inFlightLong is the size of the responses a point's connections hold at once beyond which
// PointDuration lengthens the measurement.
const inFlightLong = 256 << 20

// LongPoint reports whether a matrix point's connections together wait for more than 256 MiB
// of responses at once (1 MiB × 500): there the responses share the link and progress
// together, so a slow or stalled server can finish none of them within a run.
func LongPoint(size Size, conns int) bool { return size.Bytes*conns > inFlightLong }

// PointDuration is how long to measure a matrix point: base, or at least 10 s at a LongPoint,
// so that on the slower links every connection completes several responses within the window,
// not none.
func PointDuration(base time.Duration, size Size, conns int) time.Duration {
	if LongPoint(size, conns) {
		return max(base, 10*time.Second)
	}
	return base
}
