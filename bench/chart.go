package main

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ratioChartFile is the chart of the ratios that have a target.
const ratioChartFile = "results.svg"

// Chart geometry shared by the charts, in points.
const (
	chartWidth = vg.Length(760)
	rowPitch   = vg.Length(22) // one bar or one matrix point
	xAxisRoom  = vg.Length(38) // tick labels and the axis label under a panel
	titleRoom  = vg.Length(22) // a panel's title above it
	headerRoom = vg.Length(44) // the chart's title and its run line
	footerRoom = vg.Length(20) // the key under the chart
	axisLabel  = vg.Length(16) // an axis label under a plot's tick labels
	tickSize   = vg.Length(10) // tick labels and row names
	panelGap   = vg.Length(14)
)

var (
	barColor    = color.RGBA{R: 70, G: 130, B: 180, A: 255}
	missedColor = color.RGBA{R: 230, G: 140, B: 40, A: 255}
	targetColor = color.RGBA{R: 200, A: 255}
	parityColor = color.Gray{Y: 110}
)

// ratioPanel is one panel of the ratio chart: the rows whose targets point one way.
type ratioPanel struct {
	title, axis string
	rows        []*row
}

// ratioPanels splits the rows whose target is a ratio to the anchor into those where higher
// is better and those where lower is better, each drawn on an axis that says so.
func ratioPanels(rows []*row) []ratioPanel {
	higher := ratioPanel{
		title: "Higher is better: unikit's rate against its anchor's",
		axis:  "ratio to the anchor's median (1× = the anchor's rate) — higher is better →",
	}
	lower := ratioPanel{
		title: "Lower is better: unikit's cost against its anchor's",
		axis:  "← lower is better — ratio to the anchor's median (1× = the anchor's cost)",
	}
	for _, r := range rows {
		t := r.fig.target
		if t == nil || !t.ofRatio || math.IsNaN(r.ratio) {
			continue
		}
		if t.atMost {
			lower.rows = append(lower.rows, r)
		} else {
			higher.rows = append(higher.rows, r)
		}
	}
	var ps []ratioPanel
	for _, p := range []ratioPanel{higher, lower} {
		if len(p.rows) > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

// ratioChart draws every figure whose target is a ratio to its anchor as a horizontal bar
// (the ratio of medians) with whiskers (its range over the repetitions) and a red mark (the
// target), in one panel for the rows where higher is better and one for those where lower is.
// The panels share their label column and their scale, so that 1× lines up; the scale ends
// at ratioAxisCut at most, and a row reaching past it is drawn cut there, its value labelled
// with an arrow, so that one far ratio does not flatten every other bar.
func ratioChart(rec *record, rows []*row) chart {
	panels := ratioPanels(rows)
	h := headerRoom + footerRoom + 2*margin
	for _, p := range panels {
		h += titleRoom + xAxisRoom + rowPitch*vg.Length(len(p.rows)) + panelGap
	}
	if len(panels) == 0 {
		h += rowPitch
	}
	var labelWidth vg.Length
	xmax := 1.0
	for _, p := range panels {
		for _, r := range p.rows {
			labelWidth = max(labelWidth, textStyle(tickSize).Width(rowLabel(r)))
			xmax = max(xmax, r.rHi, r.ratio, r.fig.target.value)
		}
	}
	xmax = min(xmax, ratioAxisCut)
	return chart{file: ratioChartFile, width: chartWidth, height: h, draw: func(c draw.Canvas) {
		fillBackground(c)
		c = insetCanvas(c, margin)
		top := drawHeader(c, "unikit against its anchors: ratio of medians, with targets", runLine(rec))
		if len(panels) == 0 {
			c.FillText(textStyleAligned(10, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: top}, "No ratio with a target was measured in this run.")
		}
		for _, p := range panels {
			ph := titleRoom + xAxisRoom + rowPitch*vg.Length(len(p.rows))
			pc := c
			pc.Max.Y, pc.Min.Y = top, top-ph
			drawRatioPanel(pc, p, labelWidth, xmax*1.12)
			top -= ph + panelGap
		}
		drawFooter(c, "bar: median ratio (blue: target met, orange: missed) · whiskers: worst to best · red square: target · dashed: 1× · →: cut at the axis' end · (unstable): spread over 3×")
	}}
}

// ratioAxisCut is where the ratio axis ends at the latest; the table has every value whole.
const ratioAxisCut = 4.0

// cut is v, or ratioAxisCut if v reaches past it.
func cut(v float64) float64 { return min(v, ratioAxisCut) }

// drawRatioPanel draws p's title and plot on c, its labels in a column labelWidth wide and its
// ratios on an axis from 0 to xmax.
func drawRatioPanel(c draw.Canvas, p ratioPanel, labelWidth vg.Length, xmax float64) {
	c.FillText(textStyleAligned(11, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: c.Max.Y}, p.title)
	c.Max.Y -= titleRoom

	n := len(p.rows)
	met, missed := make(plotter.Values, n), make(plotter.Values, n)
	labels := make([]string, n)
	spread := ratioSpread{XYs: make(plotter.XYs, n), lo: make([]float64, n), hi: make([]float64, n)}
	values := make(plotter.XYs, n)
	valueText := make([]string, n)
	var targets plotter.XYs
	var widest vg.Length
	for i, r := range p.rows {
		y := n - 1 - i // from the top down, in table order
		if r.met == "no" {
			missed[y] = cut(r.ratio)
		} else {
			met[y] = cut(r.ratio)
		}
		labels[y] = rowLabel(r)
		widest = max(widest, textStyle(tickSize).Width(labels[y]))
		spread.XYs[y] = plotter.XY{X: cut(r.ratio), Y: float64(y)}
		spread.lo[y], spread.hi[y] = cut(r.ratio)-cut(r.rLo), cut(r.rHi)-cut(r.ratio)
		targets = append(targets, plotter.XY{X: cut(r.fig.target.value), Y: float64(y)})
		values[y] = plotter.XY{X: cut(max(r.rHi, r.ratio, r.fig.target.value)), Y: float64(y)}
		valueText[y] = fmt.Sprintf("%.2f×", r.ratio)
		if max(r.rHi, r.ratio) > ratioAxisCut {
			valueText[y] = fmt.Sprintf("→ %.2f×", r.ratio)
		}
	}
	pl := newPlot()
	pl.X.Min, pl.X.Max = 0, xmax
	pl.X.Tick.Marker = linearRatioTicks{}
	pl.Y.Min, pl.Y.Max = -0.5, float64(n)-0.5
	c.Min.X += labelWidth - widest // the same label column in every panel
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	pl.Add(grid)
	for _, b := range []struct {
		vals plotter.Values
		clr  color.Color
	}{{met, barColor}, {missed, missedColor}} {
		bars, err := plotter.NewBarChart(b.vals, rowPitch*0.6)
		if err != nil {
			panic(err) // only for values that are not finite, which buildRows does not give
		}
		bars.Horizontal = true
		bars.Color = b.clr
		bars.LineStyle.Width = 0
		pl.Add(bars)
	}
	errs, err := plotter.NewXErrorBars(spread)
	if err != nil {
		panic(err)
	}
	pl.Add(errs, parityLine(float64(n)))
	tm, err := plotter.NewScatter(targets)
	if err != nil {
		panic(err)
	}
	tm.GlyphStyle.Shape = draw.BoxGlyph{}
	tm.GlyphStyle.Color = targetColor
	tm.GlyphStyle.Radius = vg.Length(4)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: values, Labels: valueText})
	if err != nil {
		panic(err)
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i] = textStyleAligned(9, draw.XLeft, draw.YCenter)
	}
	lb.Offset = vg.Point{X: vg.Length(7)}
	pl.Add(tm, lb)
	pl.NominalY(labels...)
	drawWithAxisLabel(c, pl, p.axis)
}

// rowLabel is a row's name in a chart.
func rowLabel(r *row) string {
	label := r.fig.short
	if label == "" {
		label = strings.TrimSpace(r.fig.name)
	}
	if r.unstable {
		label += " (unstable)"
	}
	return label
}

// ratioSpread gives plotter.XErrorBars the ratio ranges of horizontal bars.
type ratioSpread struct {
	plotter.XYs
	lo, hi []float64
}

func (s ratioSpread) XError(i int) (float64, float64) { return s.lo[i], s.hi[i] }

// parityLine is a dashed vertical line at ratio 1 over n rows.
func parityLine(n float64) plot.Plotter {
	l, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: n - 0.5}})
	if err != nil {
		panic(err)
	}
	l.LineStyle.Color = parityColor
	l.LineStyle.Dashes = []vg.Length{vg.Length(4), vg.Length(3)}
	return l
}

// runLine says which run a chart is from.
func runLine(rec *record) string {
	commit := "commit not recorded"
	if rec.Commit != "" {
		commit = "commit " + rec.Commit[:min(len(rec.Commit), 12)]
		if len(rec.Modified) > 0 {
			commit += " with uncommitted changes"
		}
	}
	return fmt.Sprintf("%s run of %s, %s; %d CPUs, %s, %s; load average %s at the start", rec.mode(), rec.Date, commit, rec.NProc, rec.Kernel, rec.Go, rec.LoadStart)
}

// drawHeader writes a chart's title and run line at the top of c and returns the height
// below them.
func drawHeader(c draw.Canvas, title, sub string) vg.Length {
	c.FillText(textStyleAligned(14, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: c.Max.Y}, title)
	c.FillText(textStyleAligned(9, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: c.Max.Y - vg.Length(20)}, sub)
	return c.Max.Y - headerRoom
}

// drawFooter writes a chart's key at the bottom of c.
func drawFooter(c draw.Canvas, key string) {
	sty := textStyleAligned(9, draw.XLeft, draw.YBottom)
	c.FillText(sty, vg.Point{X: c.Min.X, Y: c.Min.Y + sty.FontExtents().Descent}, key)
}

func textStyleAligned(size vg.Length, x text.XAlignment, y text.YAlignment) text.Style {
	s := textStyle(size)
	s.XAlign, s.YAlign = x, y
	return s
}

// drawWithAxisLabel draws pl on c with label centred under its data area. The plotting
// library centres its own axis label wrongly on a logarithmic axis and sizes it larger than
// the tick labels; this one is at the tick labels' size.
func drawWithAxisLabel(c draw.Canvas, pl *plot.Plot, label string) {
	pc := c
	pc.Min.Y += axisLabel
	pl.Draw(pc)
	dc := pl.DataCanvas(pc)
	sty := textStyleAligned(tickSize, draw.XCenter, draw.YBottom)
	c.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: c.Min.Y + sty.FontExtents().Descent}, label)
}

// linearRatioTicks marks a linear ratio axis every 0.25× up to 2.5×, and beyond that at the
// first of 0.5×, 1×, 2.5×, 5×, 10×, … that leaves at most 16 marks, so that the labels, on
// every other mark, never run into each other however far a ratio reaches.
type linearRatioTicks struct{}

// Ticks implements plot.Ticker.
func (linearRatioTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 0.25
	if hi > 2.5 {
		step = 0.5
		for _, s := range []float64{0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000} {
			step = s
			if (hi-lo)/s <= 16 {
				break
			}
		}
	}
	var ts []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi; i++ {
		v := i * step
		t := plot.Tick{Value: v}
		if math.Mod(v, 2*step) == 0 {
			t.Label = fmt.Sprintf("%g×", v)
		}
		ts = append(ts, t)
	}
	return ts
}

// insetCanvas is c less a border of m on every side.
func insetCanvas(c draw.Canvas, m vg.Length) draw.Canvas {
	return draw.Crop(c, m, -m, m, -m)
}
