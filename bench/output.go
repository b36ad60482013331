package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeReport writes what a run's figures produce into dir: results.md and the charts as SVG
// (and PNG if png is set); and, if readme is a path, the README's block of figures in that
// file. A measuring run and -render both end here, so the same record and raw.txt always give
// the same files.
func writeReport(dir string, rec *record, outcomes map[string]*outcome, order []*outcome, png bool, readme string) error {
	rows := buildRows(outcomes, figures)
	md := renderMarkdown(rec, rows, outcomes, order)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	for _, ch := range []chart{ratioChart(rec, rows), matrixChart(rec, outcomes)} {
		if err := saveChart(dir, ch, false); err != nil {
			return err
		}
		if png {
			if err := saveChart(dir, ch, true); err != nil {
				return err
			}
		}
	}
	if readme == "" {
		return nil
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	b, err = spliceREADME(b, renderREADMEBlock(rec, rows, buildRows(outcomes, readmeFigures)))
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, b, 0o644)
}
