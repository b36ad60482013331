package main

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ratioSpread gives plotter.XErrorBars the ratio ranges of horizontal bars.
type ratioSpread struct {
	plotter.XYs
	lo, hi []float64
}

func (s ratioSpread) XError(i int) (float64, float64) { return s.lo[i], s.hi[i] }

// drawChart draws the ratio of every figure whose target is a ratio to its anchor as a
// horizontal bar with its range, and the target as a red mark; "(≤)" marks a lower-is-better
// target.
func drawChart(path string, rows []*row, m *machine) error {
	var sel []*row
	for _, r := range rows {
		if t := r.fig.target; t != nil && t.ofRatio && !math.IsNaN(r.ratio) {
			sel = append(sel, r)
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("unikit / anchor, median of repetitions (%s, %d CPUs, load %s)", m.date, m.nproc, m.loadStart)
	p.X.Label.Text = "ratio to anchor (bar), range over repetitions (whiskers), target (red)"
	if len(sel) == 0 {
		p.Title.Text += ": no ratios measured"
		return p.Save(8*vg.Inch, 2*vg.Inch, path)
	}
	// Bars from the top down in table order.
	n := len(sel)
	vals := make(plotter.Values, n)
	labels := make([]string, n)
	spread := ratioSpread{XYs: make(plotter.XYs, n), lo: make([]float64, n), hi: make([]float64, n)}
	var targets plotter.XYs
	for i, r := range sel {
		y := n - 1 - i
		vals[y] = r.ratio
		label := r.fig.short
		if label == "" {
			label = strings.TrimSpace(r.fig.name)
		}
		if r.fig.target.atMost {
			label += " (≤)"
		}
		if r.unstable {
			label += " ⚠"
		}
		labels[y] = label
		spread.XYs[y] = plotter.XY{X: r.ratio, Y: float64(y)}
		spread.lo[y], spread.hi[y] = r.ratio-r.rLo, r.rHi-r.ratio
		targets = append(targets, plotter.XY{X: r.fig.target.value, Y: float64(y)})
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return err
	}
	bars.Horizontal = true
	bars.Color = color.RGBA{R: 70, G: 130, B: 180, A: 255}
	bars.LineStyle.Width = 0
	errs, err := plotter.NewXErrorBars(spread)
	if err != nil {
		return err
	}
	p.Add(bars, errs, plotter.NewGrid())
	if len(targets) > 0 {
		tm, err := plotter.NewScatter(targets)
		if err != nil {
			return err
		}
		tm.GlyphStyle.Shape = draw.BoxGlyph{}
		tm.GlyphStyle.Color = color.RGBA{R: 200, A: 255}
		tm.GlyphStyle.Radius = vg.Points(4)
		p.Add(tm)
	}
	p.NominalY(labels...)
	p.X.Min = 0
	for i, y := range spread.XYs {
		p.X.Max = max(p.X.Max, y.X+spread.hi[i])
	}
	for _, t := range targets {
		p.X.Max = max(p.X.Max, t.X)
	}
	p.X.Max *= 1.05
	return p.Save(11*vg.Inch, vg.Length(1.2+0.35*float64(n))*vg.Inch, path)
}
