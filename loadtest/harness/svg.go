package harness

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Plot size and margins, in SVG user units.
const (
	plotW, plotH                       = 640, 270
	marginL, marginR, marginT, marginB = 64, 16, 40, 40
)

// palette colours the series of a plot, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// line is one series of a line plot.
type line struct {
	Name string
	X, Y []float64
}

// linePlot is a plot of lines against a shared x axis: hand-written SVG,
// so that reports need nothing but a browser.
type linePlot struct {
	Title, XLabel, YLabel string
	Lines                 []line
	LogX                  bool    // x on a log10 scale (x > 0)
	YMin                  float64 // the y axis starts here or lower
	Step                  bool    // draw as a step function (a CDF)
}

// axis maps data values to pixels.
type axis struct {
	lo, hi   float64
	from, to float64 // pixels
	log      bool
}

func (a axis) px(v float64) float64 {
	if a.log {
		v = math.Log10(math.Max(v, 1e-9))
	}
	if a.hi == a.lo {
		return a.from
	}
	return a.from + (v-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// ticks returns about n round values in [lo, hi].
func (a axis) ticks(n int) []float64 {
	if a.log {
		var out []float64
		for e := math.Floor(a.lo); e <= math.Ceil(a.hi); e++ {
			for _, m := range []float64{1, 2, 5} {
				if v := m * math.Pow(10, e); math.Log10(v) >= a.lo-1e-9 && math.Log10(v) <= a.hi+1e-9 {
					out = append(out, v)
				}
			}
		}
		if len(out) >= 2 {
			return out
		}
		// Less than a decade: round values between the bounds.
		lin := axis{lo: math.Pow(10, a.lo), hi: math.Pow(10, a.hi)}
		return lin.ticks(n)
	}
	span := a.hi - a.lo
	if span <= 0 {
		return []float64{a.lo}
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	var out []float64
	for v := math.Ceil(a.lo/step) * step; v <= a.hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// bounds returns the range of the values, padded when flat.
func bounds(vals [][]float64, log bool, floor float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, vs := range vals {
		for _, v := range vs {
			if log {
				if v <= 0 {
					continue
				}
				v = math.Log10(v)
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	if !log {
		lo = math.Min(lo, floor)
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// svg renders the plot.
func (p linePlot) svg() string {
	var xs, ys [][]float64
	for _, l := range p.Lines {
		xs, ys = append(xs, l.X), append(ys, l.Y)
	}
	xlo, xhi := bounds(xs, p.LogX, math.Inf(1))
	ylo, yhi := bounds(ys, false, p.YMin)
	yhi += (yhi - ylo) * 0.05
	x := axis{lo: xlo, hi: xhi, from: marginL, to: plotW - marginR, log: p.LogX}
	y := axis{lo: ylo, hi: yhi, from: plotH - marginB, to: marginT}
	var b strings.Builder
	openSVG(&b, p.Title)
	drawAxes(&b, x, y, p.XLabel, p.YLabel)
	for i, l := range p.Lines {
		color := palette[i%len(palette)]
		var pts []string
		for j := range l.X {
			if j >= len(l.Y) || p.LogX && l.X[j] <= 0 {
				continue
			}
			if p.Step && len(pts) > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.px(l.X[j]), y.px(l.Y[j-1])))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.px(l.X[j]), y.px(l.Y[j])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		if len(p.Lines) > 1 || l.Name != "" {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>`+"\n",
				marginL+i*150, marginT-16, color, marginL+14+i*150, marginT-7, html.EscapeString(l.Name))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func openSVG(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(b, `<title>%s</title><rect width="100%%" height="100%%" fill="white"/>`+"\n", html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%d" y="14" font-size="13" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(title))
}

// drawAxes draws the frame, grid lines, tick labels and axis labels.
func drawAxes(b *strings.Builder, x, y axis, xLabel, yLabel string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", marginL, marginT, plotW-marginL-marginR, plotH-marginT-marginB)
	for _, v := range x.ticks(8) {
		px := x.px(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`+"\n",
			px, marginT, px, plotH-marginB, px, plotH-marginB+13, fmtTick(v))
	}
	for _, v := range y.ticks(5) {
		py := y.px(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`+"\n",
			marginL, py, plotW-marginR, py, marginL-4, py+3, fmtTick(v))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>`+"\n", (marginL+plotW-marginR)/2, plotH-6, html.EscapeString(xLabel))
	fmt.Fprintf(b, `<text x="12" y="%d" font-size="11" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>`+"\n", (marginT+plotH-marginB)/2, (marginT+plotH-marginB)/2, html.EscapeString(yLabel))
}

func fmtTick(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%gk", v/1e3)
	case a >= 1 || a == 0:
		return fmt.Sprintf("%g", math.Round(v*100)/100)
	}
	return fmt.Sprintf("%.2g", v)
}

// timelineRow is one stream of a gap timeline.
type timelineRow struct {
	Name   string
	Gaps   []GapResult
	Faults [][2]float64 // from, to (seconds)
}

// timelinePlot draws each stream's gaps over time (explained ones grey,
// unexplained red) with its faults behind them (orange).
func timelinePlot(title string, rows []timelineRow, duration float64) string {
	const rowH = 14
	h := marginT + marginB + rowH*max(len(rows), 1)
	x := axis{lo: 0, hi: math.Max(duration, 1), from: marginL, to: plotW - marginR}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif">`+"\n", plotW, h, plotW, h)
	fmt.Fprintf(&b, `<title>%s</title><rect width="100%%" height="100%%" fill="white"/>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="13" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(title))
	for _, v := range x.ticks(8) {
		px := x.px(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`+"\n",
			px, marginT, px, h-marginB, px, h-marginB+13, fmtTick(v))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">seconds from the start</text>`+"\n", (marginL+plotW-marginR)/2, h-6)
	if len(rows) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#2ca02c">no gaps, no faults</text>`+"\n", marginL+8, marginT+11)
	}
	for i, r := range rows {
		top := float64(marginT + i*rowH)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`+"\n", marginL-4, top+10, html.EscapeString(r.Name))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, top+rowH/2, plotW-marginR, top+rowH/2)
		for _, f := range r.Faults {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#ff7f0e" opacity="0.3"/>`+"\n",
				x.px(f[0]), top+1, math.Max(2, x.px(f[1])-x.px(f[0])), rowH-2)
		}
		for _, g := range r.Gaps {
			color := "#777"
			if !g.Explained {
				color = "#d62728"
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s %s at %.1f s</title></rect>`+"\n",
				x.px(g.AtS), top+3, math.Max(1.5, x.px(g.AtS+g.Ms/1000)-x.px(g.AtS)), rowH-6, color,
				html.EscapeString(g.Reason), fmtMs(g.Ms), g.AtS)
		}
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", marginL, marginT, plotW-marginL-marginR, h-marginT-marginB)
	b.WriteString("</svg>\n")
	return b.String()
}
