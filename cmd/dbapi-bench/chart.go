package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

var modeStyle = map[string]struct {
	color color.Color
	shape draw.GlyphDrawer
}{
	modeDirect:      {color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, draw.CircleGlyph{}},
	modeHandwritten: {color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, draw.SquareGlyph{}},
	modeService:     {color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, draw.TriangleGlyph{}},
	modeCoalesced:   {color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, draw.CrossGlyph{}},
	modeReplica:     {color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, draw.RingGlyph{}},
}

// chartModes are the modes in the order the charts draw and list them.
var chartModes = []string{modeDirect, modeHandwritten, modeService, modeCoalesced, modeReplica}

// modeLabel is a mode's name in charts.
var modeLabel = map[string]string{modeDirect: "direct", modeHandwritten: "hand-written", modeService: "dbapi", modeCoalesced: "dbapi coalesced", modeReplica: "dbapi + replica"}

// drawChart draws, for each workload, throughput and p99 latency against
// closed-loop concurrency, and p99 against the offered rate when the run
// had open-loop levels. The format follows the file name: .png or .svg.
func drawChart(r *Results, path string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("plot: %v", p)
		}
	}()
	var workloads []string
	hasOpen := false
	seen := map[string]bool{}
	for _, l := range r.Levels {
		if !seen[l.Workload] {
			seen[l.Workload] = true
			workloads = append(workloads, l.Workload)
		}
		hasOpen = hasOpen || l.Loop == loopOpen
	}
	if len(workloads) == 0 {
		return fmt.Errorf("nothing to draw")
	}
	cols := 2
	if hasOpen {
		cols = 3
	}
	rows := make([][]*plot.Plot, len(workloads))
	// A profile other than the default is named in every title, so that
	// the charts of two profiles cannot be taken for each other.
	closed, open := "closed loop", "open loop"
	if r.Profile != "" && r.Profile != profileDefault {
		closed, open = closed+", "+r.Profile, open+", "+r.Profile
	}
	for i, w := range workloads {
		tp := newPlot(w+": throughput ("+closed+")", "clients", "requests/s")
		p99 := newPlot(w+": p99 latency ("+closed+")", "clients", "p99 latency (ms)")
		p99.Y.Scale, p99.Y.Tick.Marker = plot.LogScale{}, logTicks{}
		xt := map[float64]bool{}
		lines := 0
		for _, mode := range chartModes {
			var a, b plotter.XYs
			for _, l := range r.Levels {
				if l.Workload != w || l.Mode != mode || l.Loop != loopClosed || l.OK == 0 {
					continue
				}
				a = append(a, plotter.XY{X: float64(l.Clients), Y: l.RPS})
				b = append(b, plotter.XY{X: float64(l.Clients), Y: float64(l.Latency.P99) / 1000})
				xt[float64(l.Clients)] = true
			}
			if len(a) > 0 {
				lines++
			}
			if err := addLine(tp, mode, a); err != nil {
				return err
			}
			if err := addLine(p99, mode, b); err != nil {
				return err
			}
		}
		for _, p := range []*plot.Plot{tp, p99} {
			p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, constTicks(xt)
		}
		tp.Y.Min, tp.Y.Tick.Marker = 0, plainTicks{}
		linear, logf := legendRoom(lines)
		headroom(tp, linear)
		headroom(p99, logf)
		rows[i] = []*plot.Plot{tp, p99}
		if hasOpen {
			op := newPlot(w+": p99 latency ("+open+")", "offered requests/s", "p99 latency (ms)")
			op.Y.Scale, op.Y.Tick.Marker = plot.LogScale{}, logTicks{}
			rt := map[float64]bool{}
			lines := 0
			for _, mode := range chartModes {
				var a plotter.XYs
				for _, l := range r.Levels {
					if l.Workload == w && l.Mode == mode && l.Loop == loopOpen && l.OK > 0 {
						a = append(a, plotter.XY{X: l.Rate, Y: float64(l.Latency.P99) / 1000})
						rt[l.Rate] = true
					}
				}
				sort.Slice(a, func(i, j int) bool { return a[i].X < a[j].X })
				if len(a) > 0 {
					lines++
				}
				if err := addLine(op, mode, a); err != nil {
					return err
				}
			}
			op.X.Tick.Marker = constTicks(rt)
			_, logf := legendRoom(lines)
			headroom(op, logf)
			rows[i] = append(rows[i], op)
		}
	}

	width, height := vg.Length(cols)*11*vg.Centimeter, vg.Length(len(rows))*8*vg.Centimeter
	var canvas vg.CanvasWriterTo
	var dc draw.Canvas
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		c := vgsvg.New(width, height)
		canvas, dc = c, draw.New(c)
	default:
		c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))
		canvas, dc = vgimg.PngCanvas{Canvas: c}, draw.New(c)
	}
	tiles := draw.Tiles{Rows: len(rows), Cols: cols, PadX: 8 * vg.Millimeter, PadY: 8 * vg.Millimeter,
		PadTop: 4 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	for _, row := range rows {
		for _, p := range row {
			safeLog(&p.X)
			safeLog(&p.Y)
		}
	}
	cells := plot.Align(rows, tiles, dc)
	for i := range rows {
		for j := range rows[i] {
			rows[i][j].Draw(cells[i][j])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, mode string, xys plotter.XYs) error {
	if len(xys) == 0 {
		return nil
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	st := modeStyle[mode]
	line.Color, line.Width = st.color, vg.Points(1.5)
	points.Color, points.Shape = st.color, st.shape
	p.Add(line, points)
	p.Legend.Add(modeLabel[mode], line, points)
	return nil
}

// legendRoom returns the headroom factors, of a linear and of a log axis,
// that leave room above the data for a legend of that many lines.
func legendRoom(lines int) (linear, log float64) {
	if lines > 3 {
		return 1.45, 7
	}
	return 1.3, 4
}

// headroom raises the top of the y axis by factor over the data, so the
// legend in the top left corner covers no line.
func headroom(p *plot.Plot, factor float64) {
	if p.Y.Max > 0 {
		p.Y.Max *= factor
	}
}

// safeLog keeps a log axis drawable: gonum widens a range of one value to
// [v-1, v+1], which may reach 0, so it is widened to [v/2, 2v] here, and an
// axis without positive data goes back to linear.
func safeLog(a *plot.Axis) {
	if _, ok := a.Scale.(plot.LogScale); !ok {
		return
	}
	switch {
	case a.Min <= 0 || a.Max <= 0 || math.IsInf(a.Min, 0) || math.IsInf(a.Max, 0):
		a.Scale, a.Tick.Marker = plot.LinearScale{}, plot.DefaultTicks{}
	case a.Min == a.Max:
		a.Min, a.Max = a.Min/2, a.Max*2
	}
}

// constTicks labels exactly the x values measured (1, 8, 32, ...).
func constTicks(xs map[float64]bool) plot.Ticker {
	var ts plot.ConstantTicks
	for x := range xs {
		ts = append(ts, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', 0, 64)})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Value < ts[j].Value })
	return ts
}

// plainTicks are the default ticks labelled without trailing zeros.
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// logTicks labels powers of ten and the 2 and 5 between them, so a narrow
// log axis still has labels.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for d := 1e-3; d <= 1e6; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v >= lo*0.999 && v <= hi*1.001 {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}
