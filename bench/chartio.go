package main

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart is one picture of the results: its size, and how to draw it on a canvas of that size.
type chart struct {
	file          string // name in the results directory, with .svg
	width, height vg.Length
	draw          func(c draw.Canvas)
}

// margin is the blank border around a chart: text drawn flush with the canvas's edge is cut
// off by viewers that antialias or hint it a little wider than the plotting library measured.
const margin = vg.Length(10)

// chartFont is the charts' typeface. The library measures text with Liberation Sans, which is
// metric-compatible with Arial and Helvetica: a viewer without it falls back to those (see
// svgFontFamily), so the text keeps the width the layout gave it.
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// svgFontFamily is the font-family the SVG files name for chartFont.
const svgFontFamily = "font-family:'Liberation Sans',Arial,Helvetica,sans-serif"

func textStyle(size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(chartFont, size), Handler: plot.DefaultTextHandler}
}

// newPlot is a plot whose text is all in chartFont.
func newPlot() *plot.Plot {
	p := plot.New()
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font = font.From(chartFont, s.Font.Size)
	}
	return p
}

// saveChart writes ch as an SVG file (its file name), or as a PNG beside it if png is set.
func saveChart(dir string, ch chart, png bool) error {
	path := filepath.Join(dir, ch.file)
	var buf bytes.Buffer
	if png {
		path = strings.TrimSuffix(path, ".svg") + ".png"
		img := vgimg.NewWith(vgimg.UseWH(ch.width, ch.height), vgimg.UseDPI(144), vgimg.UseBackgroundColor(color.White))
		ch.draw(draw.New(img))
		if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return os.WriteFile(path, buf.Bytes(), 0o644)
	}
	svg := vgsvg.New(ch.width, ch.height)
	ch.draw(draw.New(svg))
	if _, err := svg.WriteTo(&buf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := strings.ReplaceAll(buf.String(), "font-family:Liberation Sans", svgFontFamily)
	return os.WriteFile(path, []byte(out), 0o644)
}

// fillBackground paints c white: an SVG is otherwise transparent, and dark viewers show
// black text on black.
func fillBackground(c draw.Canvas) {
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
}
