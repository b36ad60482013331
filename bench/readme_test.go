package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// committedResults is resultsDir as the test binary, which runs in bench/, sees it.
const committedResults = "results"

// loadCommitted reads the committed run's record and outcomes.
func loadCommitted(t *testing.T) (*record, map[string]*outcome, []*outcome) {
	t.Helper()
	rec, err := readRecord(filepath.Join(committedResults, recordFile))
	require.NoError(t, err)
	sections, err := readRaw(filepath.Join(committedResults, "raw.txt"))
	require.NoError(t, err)
	outcomes, order, err := outcomesFromRecord(rec, sections)
	require.NoError(t, err)
	return rec, outcomes, order
}

const regenerate = "go run ./bench -render writes it again from bench/results/run.json and raw.txt"

// TestResultsMatchRaw checks that the committed results.md is what the committed run's
// record and raw output give: no figure in it was edited by hand or left from another run.
func TestResultsMatchRaw(t *testing.T) {
	rec, outcomes, order := loadCommitted(t)
	want := renderMarkdown(rec, buildRows(outcomes, figures), outcomes, order)
	got, err := os.ReadFile(filepath.Join(committedResults, "results.md"))
	require.NoError(t, err)
	requireSameText(t, want, string(got), "bench/results/results.md differs from its run; "+regenerate)
}

// TestREADMEMatchesResults checks that the README's performance figures are the committed
// run's.
func TestREADMEMatchesResults(t *testing.T) {
	rec, outcomes, _ := loadCommitted(t)
	want := renderREADMEBlock(rec, buildRows(outcomes, figures), buildRows(outcomes, readmeFigures))
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	got, err := readmeBlock(readme)
	require.NoError(t, err)
	requireSameText(t, want, got, "README.md's figures differ from bench/results; "+regenerate)
	// Every figure of the results table is in the README.
	for _, f := range figures {
		name := strings.TrimSpace(f.name)
		if strings.HasPrefix(f.name, "  ") {
			name = "↳ " + name
		}
		require.Contains(t, got, "| "+name+" |")
	}
}

// requireSameText fails t with the first line where got differs from want.
func requireSameText(t *testing.T, want, got, msg string) {
	t.Helper()
	if want == got {
		return
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			t.Fatalf("%s\nfirst difference, line %d:\nwant: %s\ngot:  %s", msg, i+1, wl, gl)
		}
	}
	t.Fatalf("%s (they differ in line endings)", msg)
}

// TestSpliceREADME checks that writing the block replaces exactly the old one.
func TestSpliceREADME(t *testing.T) {
	readme := []byte("# x\n\nbefore\n" + readmeBegin + "\nold\n" + readmeEnd + "\nafter\n")
	out, err := spliceREADME(readme, readmeBegin+"\nnew\n"+readmeEnd)
	require.NoError(t, err)
	require.Equal(t, "# x\n\nbefore\n"+readmeBegin+"\nnew\n"+readmeEnd+"\nafter\n", string(out))
	block, err := readmeBlock(out)
	require.NoError(t, err)
	require.Equal(t, readmeBegin+"\nnew\n"+readmeEnd, block)

	_, err = spliceREADME([]byte("# no block\n"), "x")
	require.Error(t, err)
	_, err = readmeBlock([]byte(readmeEnd + readmeBegin))
	require.Error(t, err)
}
