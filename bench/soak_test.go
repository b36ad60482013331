package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// soakResultDirs are where soak results may be committed: a full run's and a -quick run's.
var soakResultDirs = []string{committedResults, filepath.Join(committedResults, "quick")}

// TestSoakResultsMatchTheirRun checks that each committed soak.md is what its soak.json gives,
// and that its chart's text fits the canvas.
func TestSoakResultsMatchTheirRun(t *testing.T) {
	found := false
	for _, dir := range soakResultDirs {
		b, err := os.ReadFile(filepath.Join(dir, soakRecordFile))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		found = true
		t.Run(dir, func(t *testing.T) {
			run := &soakRun{}
			require.NoError(t, decodeSoakRun(b, run))
			got, err := os.ReadFile(filepath.Join(dir, soakReportFile))
			require.NoError(t, err)
			requireSameText(t, renderSoakMarkdown(run), string(got),
				dir+"/"+soakReportFile+" differs from its "+soakRecordFile+"; go run ./bench -soak -render writes it again")
			checkChartText(t, soakChart(run))
		})
	}
	if !found {
		t.Skip("no soak results committed yet (go run ./bench -soak)")
	}
}

// TestSoakChartOfAnEmptyRun draws the chart of a soak that measured nothing: it says so and
// still fits, and the report says the run failed.
func TestSoakChartOfAnEmptyRun(t *testing.T) {
	run := &soakRun{Record: &record{Date: "2026-01-01 00:00 UTC", NProc: 2, Go: "go1.26"}, Failed: []string{"TestSoak/user"}}
	run.Report.Nets = []soakNet{{Net: "user"}}
	checkChartText(t, soakChart(run))
	require.Contains(t, renderSoakMarkdown(run), "**failed**: TestSoak/user")
}
