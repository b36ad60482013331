package main

import (
	"fmt"
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// soakPanel is one panel of the soak chart: a measure over time, a line per network.
type soakPanel struct {
	title, axis string // axis: the unit, named after the title
	series      func(n soakNet) []soakSample
	value       func(s soakSample) float64
	// mark, if set, is a horizontal level to draw for each network, dashed in its colour
	// (the slow readers' limit over their baseline), with its label for the key.
	mark      func(n soakNet, c soakCriteria) (float64, bool)
	markLabel string
}

// soakPanels are the soak chart's panels, top to bottom.
var soakPanels = []soakPanel{
	{title: "Mixed load: resident memory", axis: "MiB",
		series: func(n soakNet) []soakSample { return mixedSamples(n) },
		value:  func(s soakSample) float64 { return s.RSS / (1 << 20) }},
	{title: "Mixed load: goroutines", axis: "count",
		series: func(n soakNet) []soakSample { return mixedSamples(n) },
		value:  func(s soakSample) float64 { return s.Goroutines }},
	{title: "Slow readers: resident memory while they connect and are held", axis: "MiB",
		series: func(n soakNet) []soakSample {
			if n.Slow == nil {
				return nil
			}
			return n.Slow.Samples
		},
		value: func(s soakSample) float64 { return s.RSS / (1 << 20) },
		mark: func(n soakNet, c soakCriteria) (float64, bool) {
			if n.Slow == nil {
				return 0, false
			}
			return (n.Slow.BaselineRSS + c.SlowAddedLimit) / (1 << 20), true
		},
		markLabel: "dashed: the baseline + the limit"},
}

func mixedSamples(n soakNet) []soakSample {
	if n.Mixed == nil {
		return nil
	}
	return n.Mixed.Samples
}

// netColors tell the networks apart in every panel.
var netColors = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
}

// soakPanelHeight is one panel's height, its title and axis included.
const soakPanelHeight = vg.Length(190)

// soakChart draws the soak's samples over time: the mixed load's resident memory and
// goroutines, and the slow readers' resident memory against their limit.
func soakChart(run *soakRun) chart {
	h := headerRoom + footerRoom + 2*margin + vg.Length(len(soakPanels))*(soakPanelHeight+panelGap)
	return chart{file: soakChartFile, width: chartWidth, height: h, draw: func(c draw.Canvas) {
		fillBackground(c)
		c = insetCanvas(c, margin)
		rec := run.Record
		sub := fmt.Sprintf("%s run of %s, %s; %d CPUs, %s; load average %s at the start, %s at the end",
			run.Report.Mode.Name, rec.Date, shortCommit(rec), rec.NProc, rec.Go, rec.LoadStart, rec.LoadEnd)
		top := drawHeader(c, "Soak: the blog's memory and goroutines over time", sub)
		for _, p := range soakPanels {
			pc := c
			pc.Max.Y, pc.Min.Y = top, top-soakPanelHeight
			drawSoakPanel(pc, p, run)
			top -= soakPanelHeight + panelGap
		}
		key := "one line per network:"
		for i, n := range run.Report.Nets {
			key += fmt.Sprintf(" %s (%s)", n.Net, colorName(i))
		}
		drawFooter(c, key+" · samples from the blog's /proc status and its debug listener")
	}}
}

// colorName names the i-th network's colour for the key.
func colorName(i int) string {
	return []string{"blue", "red", "green"}[i%len(netColors)]
}

// shortCommit is the run's commit for a chart's run line.
func shortCommit(rec *record) string {
	if rec.Commit == "" {
		return "commit not recorded"
	}
	s := "commit " + rec.Commit[:min(len(rec.Commit), 12)]
	if len(rec.Modified) > 0 {
		s += " with uncommitted changes"
	}
	return s
}

// drawSoakPanel draws one panel: its title, then the networks' series over time in seconds.
func drawSoakPanel(c draw.Canvas, p soakPanel, run *soakRun) {
	title := p.title + ", " + p.axis
	if p.markLabel != "" {
		title += " (" + p.markLabel + ")"
	}
	c.FillText(textStyleAligned(11, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: c.Max.Y}, title)
	c.Max.Y -= titleRoom
	pl := newPlot()
	pl.X.Min, pl.Y.Min = 0, 0
	pl.Add(plotter.NewGrid())
	any := false
	for i, n := range run.Report.Nets {
		samples := p.series(n)
		if len(samples) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(samples))
		for j, s := range samples {
			xys[j] = plotter.XY{X: s.T, Y: p.value(s)}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			panic(err) // only for values that are not finite, which samples are not
		}
		l.LineStyle.Color = netColors[i%len(netColors)]
		l.LineStyle.Width = vg.Length(1.5)
		pl.Add(l)
		any = true
		if p.mark != nil {
			if y, ok := p.mark(n, run.Report.Criteria); ok {
				m, err := plotter.NewLine(plotter.XYs{{X: 0, Y: y}, {X: xys[len(xys)-1].X, Y: y}})
				if err != nil {
					panic(err)
				}
				m.LineStyle.Color = netColors[i%len(netColors)]
				m.LineStyle.Dashes = []vg.Length{vg.Length(4), vg.Length(3)}
				pl.Add(m)
				pl.Y.Max = max(pl.Y.Max, y*1.08)
			}
		}
	}
	if !any {
		c.FillText(textStyleAligned(10, draw.XLeft, draw.YTop), vg.Point{X: c.Min.X, Y: c.Max.Y}, "Not measured in this run.")
		return
	}
	pl.Y.Max *= 1.05
	pl.X.Tick.Marker, pl.Y.Tick.Marker = plainTicks{}, plainTicks{}
	drawWithAxisLabel(c, pl, "seconds since the scenario's start")
}

// plainTicks are the plotting library's default ticks, labelled without trailing zeros
// ("250", not "250.00").
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}
