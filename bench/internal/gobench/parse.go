package gobench

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result is one benchmark result line.
type Result struct {
	// Name is the benchmark's full name without the -GOMAXPROCS suffix, for example
	// "BenchmarkTAPBulk/offload/stack-to-kernel".
	Name string
	// Iterations is b.N.
	Iterations int64
	// Metrics maps each unit ("ns/op", "allocs/op", "Gbit/s", ...) to its value.
	Metrics map[string]float64
}

// Skip is a benchmark that skipped, with the message it gave.
type Skip struct {
	Name, Reason string
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseLine parses one result line; ok is false for any other line.
func ParseLine(line string) (r Result, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return Result{}, false
	}
	r = Result{Name: procsSuffix.ReplaceAllString(f[0], ""), Iterations: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		r.Metrics[f[i+1]] = v
	}
	return r, true
}

// Parse reads go test output and returns its result lines in order and the benchmarks that
// skipped ("--- SKIP: BenchmarkX" followed by the indented message). A result whose name and
// figures were split by log output the benchmark printed in between ("BenchmarkX-2 <log
// lines> 3 123 ns/op ...") is joined again.
func Parse(rd io.Reader) ([]Result, []Skip, error) {
	var res []Result
	var skips []Skip
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pending := -1
	name := "" // a benchmark name printed before its figures
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if r, ok := ParseLine(t); ok {
			res = append(res, r)
			pending, name = -1, ""
			continue
		}
		if f := strings.Fields(t); len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") {
			name = f[0]
		} else if name != "" {
			if r, ok := ParseLine(name + " " + t); ok {
				res = append(res, r)
				name = ""
				continue
			}
		}
		if rest, ok := strings.CutPrefix(t, "--- SKIP: "); ok {
			name := strings.Fields(rest)
			if len(name) > 0 {
				skips = append(skips, Skip{Name: procsSuffix.ReplaceAllString(name[0], "")})
				pending = len(skips) - 1
			}
			continue
		}
		if pending >= 0 && strings.HasPrefix(line, "    ") && skips[pending].Reason == "" {
			skips[pending].Reason = t
		}
	}
	return res, skips, sc.Err()
}
