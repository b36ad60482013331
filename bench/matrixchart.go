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

// matrixChartFile is the chart of the static HTTP matrix.
const matrixChartFile = "results-matrix.svg"

// matrixMetric is one panel's measure in the matrix chart.
type matrixMetric struct {
	suffix, title, axis string
}

// matrixMetrics are the matrix chart's panels, side by side for each grid.
var matrixMetrics = []matrixMetric{
	{"req/s", "Requests per second", "ratio to the anchor — higher is better →"},
	{"cpu-µs/req", "Server CPU per request", "← lower is better — ratio to the anchor"},
}

// serverStyles tell the servers of a grid apart: the same shape and colour for the same place
// in every grid.
var serverStyles = []draw.GlyphStyle{
	{Shape: draw.CircleGlyph{}, Color: color.RGBA{R: 31, G: 119, B: 180, A: 255}, Radius: vg.Length(3.5)},
	{Shape: draw.PyramidGlyph{}, Color: color.RGBA{R: 214, G: 39, B: 40, A: 255}, Radius: vg.Length(4)},
	{Shape: draw.BoxGlyph{}, Color: color.RGBA{R: 44, G: 160, B: 44, A: 255}, Radius: vg.Length(3.5)},
}

// matrixPoint is one point of the matrix: a file size and a connection count.
type matrixPoint struct {
	bench, label string // "4KiB/c50", "4 KiB × 50"
}

func matrixPoints() []matrixPoint {
	var ps []matrixPoint
	for _, size := range gridSizes {
		for _, conns := range gridConns {
			ps = append(ps, matrixPoint{fmt.Sprintf("%s/c%d", size.name, conns), fmt.Sprintf("%s × %d", size.show, conns)})
		}
	}
	return ps
}

// gridRatios are, for every server of g but its anchor, its median's ratio to the anchor's
// median at each point (NaN where either was not measured), and whether any was measured.
func gridRatios(outcomes map[string]*outcome, g grid, suffix string) ([][]float64, bool) {
	anchor := g.servers[len(g.servers)-1]
	points := matrixPoints()
	ratios := make([][]float64, len(g.servers)-1)
	any := false
	for i, s := range g.servers[:len(g.servers)-1] {
		ratios[i] = make([]float64, len(points))
		for j, pt := range points {
			c := gridValues(outcomes, s, s.prefix+"/"+pt.bench, suffix)
			a := gridValues(outcomes, anchor, anchor.prefix+"/"+pt.bench, suffix)
			ratios[i][j] = math.NaN()
			if len(c.vals) > 0 && len(a.vals) > 0 && a.med > 0 && c.med > 0 {
				ratios[i][j] = c.med / a.med
				any = true
			}
		}
	}
	return ratios, any
}

// matrixSectionHeight is the height of one grid's section of the matrix chart.
func matrixSectionHeight() vg.Length {
	return titleRoom + titleRoom + rowPitch*vg.Length(len(matrixPoints())) + xAxisRoom + 2*titleRoom
}

// matrixChart draws the static HTTP matrix: for each grid, every server's ratio to the anchor
// at every point, requests per second in one panel and server CPU per request in the other,
// on logarithmic axes centred on the anchor.
func matrixChart(rec *record, outcomes map[string]*outcome) chart {
	var shown []grid
	for _, g := range grids {
		if _, ok := gridRatios(outcomes, g, "req/s"); ok {
			shown = append(shown, g)
		}
	}
	h := headerRoom + footerRoom + 2*margin + matrixSectionHeight()*vg.Length(max(1, len(shown)))
	return chart{file: matrixChartFile, width: chartWidth, height: h, draw: func(c draw.Canvas) {
		fillBackground(c)
		c = insetCanvas(c, margin)
		top := drawHeader(c, "Static HTTP matrix: each server against nginx at the same point", runLine(rec))
		if len(shown) == 0 {
			c.FillText(textStyleAligned(10, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: top}, "No point of the static HTTP matrix was measured in this run.")
		}
		for _, g := range shown {
			sc := c
			sc.Max.Y, sc.Min.Y = top, top-matrixSectionHeight()
			drawMatrixSection(sc, g, outcomes)
			top -= matrixSectionHeight()
		}
		drawFooter(c, "Each mark is a server's median over the repetitions divided by the anchor's median at the same file size × connections; the dashed line is the anchor (1×).")
	}}
}

// drawMatrixSection draws one grid's title, its two panels side by side and their legend.
func drawMatrixSection(c draw.Canvas, g grid, outcomes map[string]*outcome) {
	c.FillText(textStyleAligned(11, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: c.Max.Y}, g.short)
	c.Max.Y -= titleRoom
	points := matrixPoints()
	panelH := titleRoom + rowPitch*vg.Length(len(points)) + xAxisRoom
	w := (c.Max.X - c.Min.X - panelGap) / vg.Length(len(matrixMetrics))
	for i, m := range matrixMetrics {
		pc := c
		pc.Min.X = c.Min.X + vg.Length(i)*(w+panelGap)
		pc.Max.X = pc.Min.X + w
		pc.Min.Y = c.Max.Y - panelH
		ratios, _ := gridRatios(outcomes, g, m.suffix)
		drawMatrixPanel(pc, m, g, points, ratios)
	}
	// The legend: one mark and name per server.
	x, y := c.Min.X, c.Max.Y-panelH-titleRoom/2
	sty := textStyleAligned(9, draw.XLeft, draw.YCenter)
	for i, s := range g.servers[:len(g.servers)-1] {
		gs := serverStyles[i%len(serverStyles)]
		c.DrawGlyph(gs, vg.Point{X: x + gs.Radius, Y: y})
		x += 2*gs.Radius + vg.Length(4)
		c.FillText(sty, vg.Point{X: x, Y: y}, s.label)
		x += sty.Width(s.label) + vg.Length(18)
	}
	c.FillText(sty, vg.Point{X: x, Y: y}, "dashed: "+strings.TrimSuffix(g.servers[len(g.servers)-1].label, " (anchor)")+", the anchor")
}

// drawMatrixPanel draws one metric of one grid: a row per point, a mark per server.
func drawMatrixPanel(c draw.Canvas, m matrixMetric, g grid, points []matrixPoint, ratios [][]float64) {
	c.FillText(textStyleAligned(10, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: c.Max.Y}, m.title)
	c.Max.Y -= titleRoom
	n := len(points)
	lo, hi := 1.0, 1.0
	for _, rs := range ratios {
		for _, r := range rs {
			if !math.IsNaN(r) {
				lo, hi = min(lo, r), max(hi, r)
			}
		}
	}
	pl := newPlot()
	pl.X.Scale = plot.LogScale{}
	pl.X.Min, pl.X.Max = lo/1.4, hi*1.4
	pl.X.Tick.Marker = ratioTicks{}
	pl.Y.Min, pl.Y.Max = -0.5, float64(n)-0.5
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	pl.Add(grid, parityLine(float64(n)))
	k := len(ratios)
	for i, rs := range ratios {
		// Servers side by side within a point's row, in legend order from the top.
		dodge := (float64(k-1)/2 - float64(i)) * 0.22
		var xys plotter.XYs
		for j, r := range rs {
			if !math.IsNaN(r) {
				xys = append(xys, plotter.XY{X: r, Y: float64(n-1-j) + dodge})
			}
		}
		if len(xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			panic(err) // only for values that are not finite, which gridRatios does not give
		}
		sc.GlyphStyle = serverStyles[i%len(serverStyles)]
		pl.Add(sc)
	}
	labels := make([]string, n)
	for j, pt := range points {
		labels[n-1-j] = pt.label
	}
	pl.NominalY(labels...)
	drawWithAxisLabel(c, pl, m.axis)
}

// ratioTicks marks a logarithmic ratio axis at 1, 2 and 5 times the powers of ten.
type ratioTicks struct{}

// Ticks implements plot.Ticker.
func (ratioTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%g×", v)})
			}
		}
	}
	return ts
}
