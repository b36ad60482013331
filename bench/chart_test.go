package main

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/font/sfnt"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// affine maps (x, y) to (a·x + c·y + e, b·x + d·y + f), as a canvas's transform does.
type affine struct{ a, b, c, d, e, f float64 }

var identity = affine{a: 1, d: 1}

func (m affine) then(n affine) affine {
	return affine{
		a: m.a*n.a + m.c*n.b, b: m.b*n.a + m.d*n.b,
		c: m.a*n.c + m.c*n.d, d: m.b*n.c + m.d*n.d,
		e: m.a*n.e + m.c*n.f + m.e, f: m.b*n.e + m.d*n.f + m.f,
	}
}

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f
}

// placedText is a string a chart drew and the rectangle its glyphs occupy on the canvas, as
// the plotting library measures them.
type placedText struct {
	text string
	face font.Face
	box  vg.Rectangle
}

// textRecorder is a canvas that draws nothing and records where every string would go.
type textRecorder struct {
	w, h  vg.Length
	m     affine
	stack []affine
	texts []placedText
}

func newTextRecorder(w, h vg.Length) *textRecorder {
	return &textRecorder{w: w, h: h, m: identity}
}

func (r *textRecorder) Size() (vg.Length, vg.Length)        { return r.w, r.h }
func (r *textRecorder) SetLineWidth(vg.Length)              {}
func (r *textRecorder) SetLineDash([]vg.Length, vg.Length)  {}
func (r *textRecorder) SetColor(color.Color)                {}
func (r *textRecorder) Stroke(vg.Path)                      {}
func (r *textRecorder) Fill(vg.Path)                        {}
func (r *textRecorder) DrawImage(vg.Rectangle, image.Image) {}
func (r *textRecorder) Push()                               { r.stack = append(r.stack, r.m) }
func (r *textRecorder) Pop()                                { r.m, r.stack = r.stack[len(r.stack)-1], r.stack[:len(r.stack)-1] }
func (r *textRecorder) Translate(pt vg.Point) {
	r.m = r.m.then(affine{a: 1, d: 1, e: pt.X.Points(), f: pt.Y.Points()})
}
func (r *textRecorder) Scale(x, y float64) { r.m = r.m.then(affine{a: x, d: y}) }
func (r *textRecorder) Rotate(rad float64) {
	s, c := math.Sincos(rad)
	r.m = r.m.then(affine{a: c, b: s, c: -s, d: c})
}

func (r *textRecorder) FillString(f font.Face, pt vg.Point, s string) {
	if f.Font.Size == 0 || s == "" {
		return
	}
	ext := f.Extents()
	x0, x1 := pt.X.Points(), (pt.X + f.Width(s)).Points()
	y0, y1 := (pt.Y - ext.Descent).Points(), (pt.Y + ext.Ascent).Points()
	box := vg.Rectangle{Min: vg.Point{X: vg.Length(math.Inf(1)), Y: vg.Length(math.Inf(1))}, Max: vg.Point{X: vg.Length(math.Inf(-1)), Y: vg.Length(math.Inf(-1))}}
	for _, corner := range [][2]float64{{x0, y0}, {x0, y1}, {x1, y0}, {x1, y1}} {
		x, y := r.m.apply(corner[0], corner[1])
		box.Min.X, box.Max.X = min(box.Min.X, vg.Length(x)), max(box.Max.X, vg.Length(x))
		box.Min.Y, box.Max.Y = min(box.Min.Y, vg.Length(y)), max(box.Max.Y, vg.Length(y))
	}
	r.texts = append(r.texts, placedText{text: s, face: f, box: box})
}

// checkChartText draws ch and checks that all its text is inside the canvas, clear of the
// canvas's margin, that no two strings overlap, and that the font has a glyph for every
// character (a missing one is drawn from another font, wider or narrower than measured).
func checkChartText(t *testing.T, ch chart) {
	t.Helper()
	rec := newTextRecorder(ch.width, ch.height)
	ch.draw(draw.New(rec))
	require.NotEmpty(t, rec.texts)
	// Glyphs may reach a hair past their advance and their font's ascent; half a point.
	const slack = vg.Length(0.5)
	var buf sfnt.Buffer
	for _, p := range rec.texts {
		require.GreaterOrEqual(t, p.box.Min.X, margin-slack, "%q starts left of the margin: %+v", p.text, p.box)
		require.LessOrEqual(t, p.box.Max.X, ch.width-margin+slack, "%q ends right of the margin: %+v", p.text, p.box)
		require.GreaterOrEqual(t, p.box.Min.Y, margin-slack, "%q is below the margin: %+v", p.text, p.box)
		require.LessOrEqual(t, p.box.Max.Y, ch.height-margin+slack, "%q is above the margin: %+v", p.text, p.box)
		for _, r := range p.text {
			g, err := p.face.Face.GlyphIndex(&buf, r)
			require.NoError(t, err)
			require.NotZero(t, g, "%q: the font has no glyph for %q", p.text, r)
		}
	}
	for i, p := range rec.texts {
		for _, q := range rec.texts[i+1:] {
			overlap := min(p.box.Max.X, q.box.Max.X)-max(p.box.Min.X, q.box.Min.X) > slack &&
				min(p.box.Max.Y, q.box.Max.Y)-max(p.box.Min.Y, q.box.Min.Y) > slack
			require.False(t, overlap, "%q %+v overlaps %q %+v", p.text, p.box, q.text, q.box)
		}
	}
}

// TestChartsFitTheirCanvas draws the charts of the committed results and checks that their
// labels, titles and keys are where a reader can read them: inside the canvas, clear of each
// other, in a font that has their characters.
func TestChartsFitTheirCanvas(t *testing.T) {
	rec, outcomes, _ := loadCommitted(t)
	rows := buildRows(outcomes, figures)
	for _, ch := range []chart{ratioChart(rec, rows), matrixChart(rec, outcomes)} {
		t.Run(ch.file, func(t *testing.T) { checkChartText(t, ch) })
	}
	// The longest labels: every row flagged unstable.
	for _, r := range rows {
		r.unstable = true
	}
	t.Run("unstable", func(t *testing.T) { checkChartText(t, ratioChart(rec, rows)) })
	// Both panels of the ratio chart are there: the committed run has targets both ways.
	ps := ratioPanels(rows)
	require.Len(t, ps, 2)
	require.Contains(t, ps[1].axis, "lower is better")
	require.Contains(t, ps[0].axis, "higher is better")
}

// TestChartsOfAnEmptyRun draws the charts of a run that measured nothing: they say so and
// still fit.
func TestChartsOfAnEmptyRun(t *testing.T) {
	rec := &record{Date: "2026-01-01 00:00 UTC", NProc: 2, Kernel: "Linux", Go: "go1.26"}
	outcomes := map[string]*outcome{}
	for _, ch := range []chart{ratioChart(rec, buildRows(outcomes, figures)), matrixChart(rec, outcomes)} {
		t.Run(ch.file, func(t *testing.T) { checkChartText(t, ch) })
	}
}
