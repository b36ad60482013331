package httpload

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// h2loadArgs returns h2load's command line for l: HTTP/2 with prior knowledge over cleartext
// (h2c) for an http:// URL, l.Streams concurrent streams on each connection.
func h2loadArgs(h2load string, l Load, secs int) []string {
	return []string{h2load, "-t" + strconv.Itoa(max(1, l.Threads)), "-c" + strconv.Itoa(l.Conns),
		"-m" + strconv.Itoa(l.Streams), "-D" + strconv.Itoa(secs), l.URL}
}

var (
	reH2Finished = regexp.MustCompile(`(?m)^finished in [0-9.]+\w+, ([0-9.]+) req/s`)
	reH2Requests = regexp.MustCompile(`(?m)^requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	reH2Status   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	reH2Data     = regexp.MustCompile(`(?m)^traffic: .*, [0-9.]+\w*B \((\d+)\) data`)
	reH2Time     = regexp.MustCompile(`(?m)^time for request:\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s)\s`)
)

// ParseH2 extracts the figures from h2load's standard output. ReadBytes is the response data
// (bodies, without headers); h2load prints no percentiles, so P50 and P99 stay zero and Mean is
// its mean time for request.
func ParseH2(out string) (Result, error) {
	var r Result
	m := reH2Finished.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no 'finished in' line in h2load output")
	}
	r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	rm := reH2Requests.FindStringSubmatch(out)
	sm := reH2Status.FindStringSubmatch(out)
	dm := reH2Data.FindStringSubmatch(out)
	tm := reH2Time.FindStringSubmatch(out)
	if rm == nil || sm == nil || dm == nil || tm == nil {
		return r, fmt.Errorf("h2load output lacks its requests, status codes, traffic or time for request line")
	}
	r.Requests, _ = strconv.ParseInt(rm[2], 10, 64)
	r.ReadBytes, _ = strconv.ParseFloat(dm[1], 64)
	mean, _ := strconv.ParseFloat(tm[1], 64)
	r.Mean = time.Duration(mean * float64(latencyUnits[tm[2]]))
	r.Timeouts, _ = strconv.ParseInt(rm[5], 10, 64)
	var errs []string
	if rm[3] != "0" || rm[4] != "0" {
		errs = append(errs, fmt.Sprintf("%s failed, %s errored", rm[3], rm[4]))
	}
	if sm[2] != "0" || sm[3] != "0" || sm[4] != "0" {
		errs = append(errs, fmt.Sprintf("status codes %s 3xx, %s 4xx, %s 5xx", sm[2], sm[3], sm[4]))
	}
	r.Errors = strings.Join(errs, "; ")
	return r, nil
}
