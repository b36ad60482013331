package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/bench/internal/gobench"
)

// TestRecordAndRawRoundTrip writes a run's record and raw output as a measuring run does and
// reads them back as -render does.
func TestRecordAndRawRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var raw bytes.Buffer
	writeRawSection(&raw, "pipe", 24600*time.Millisecond, "go test ./netstack/link/pipe", `goos: linux
BenchmarkStackToStack/tso-2   	    4453	    487993 ns/op	        17.18 Gbit/s
--- SKIP: BenchmarkStackToStack/mtu1500
    pipe_test.go:9: not today
PASS
`)
	measured := gobench.Result{Name: "BinarySize/default", Iterations: 1, Metrics: map[string]float64{"MiB": 17.43748378753662, "bytes": 18284527}}
	writeRawSection(&raw, "size", 1600*time.Millisecond, "go build", formatMeasured(measured))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "raw.txt"), raw.Bytes(), 0o644))
	rec := &record{Command: "go run ./bench -only pipe,size", Date: "2026-01-01 00:00 UTC", Elapsed: "26s", Commit: "0123456789abcdef",
		Modified: []string{"bench/main.go"}, Tools: []toolVersion{{"wrk", "4.1.0"}}, Runs: []runRecord{
			{ID: "pipe", Cmd: "go test ./netstack/link/pipe", Duration: "24.6s"},
			{ID: "tapbulk", Skipped: "needs root"},
			{ID: "size", Cmd: "go build", Duration: "1.6s"},
		}}
	require.NoError(t, writeRecord(filepath.Join(dir, recordFile), rec))

	back, err := readRecord(filepath.Join(dir, recordFile))
	require.NoError(t, err)
	require.Equal(t, rec, back)
	sections, err := readRaw(filepath.Join(dir, "raw.txt"))
	require.NoError(t, err)
	require.Len(t, sections, 2)
	outcomes, order, err := outcomesFromRecord(back, sections)
	require.NoError(t, err)
	require.Len(t, order, 3)

	pipe := outcomes["pipe"]
	require.Equal(t, 24600*time.Millisecond, pipe.duration)
	require.Len(t, pipe.results, 1)
	require.Equal(t, "BenchmarkStackToStack/tso", pipe.results[0].Name)
	require.Equal(t, 17.18, pipe.results[0].Metrics["Gbit/s"])
	require.Equal(t, []gobench.Skip{{Name: "BenchmarkStackToStack/mtu1500", Reason: "pipe_test.go:9: not today"}}, pipe.skips)
	require.Equal(t, "needs root", outcomes["tapbulk"].skipped)
	require.Equal(t, []gobench.Result{measured}, outcomes["size"].results)
	require.Equal(t, back.Runs, runRecords(order))

	// A run the record says ran must have its output.
	delete(sections, "size")
	_, _, err = outcomesFromRecord(back, sections)
	require.ErrorContains(t, err, "no section")
}

// TestCommitLine checks how the header names the tree measured.
func TestCommitLine(t *testing.T) {
	require.Equal(t, "not recorded", (&record{}).commitLine())
	require.Equal(t, "`abc`, no uncommitted changes", (&record{Commit: "abc"}).commitLine())
	require.Equal(t, "`abc` with uncommitted changes to a.go, b.go", (&record{Commit: "abc", Modified: []string{"a.go", "b.go"}}).commitLine())
}
