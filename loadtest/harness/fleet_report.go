package harness

import (
	"fmt"
	"html"
	"strings"
)

// fleetTables are the fleet's part of report.md and report.html: a
// caption, the instance faults and the streams' failovers, each a header
// row then data rows.
func (r *Report) fleetTables() (caption string, tables [][][]string) {
	f := r.Fleet
	caption = fmt.Sprintf("%d instances (%s), %d registry partitions, session timeout %.1f s. %d failovers, median %s, max %s. Continuity across owners: %s.",
		len(f.Instances), strings.Join(f.Instances, ", "), f.Partitions, f.SessionTimeoutS, f.Failovers,
		fmtOptMs(f.FailoverP50Ms), fmtOptMs(f.FailoverMaxMs), f.Continuity)
	faults := [][]string{{"instance fault", "at", "streams", "pulled again", "failover median / max", "bound", "result"}}
	for _, ft := range f.Faults {
		outcome := "ok"
		if !ft.Pass {
			outcome = ft.Problem
		}
		faults = append(faults, []string{ft.Fault, fmt.Sprintf("%.1f s", ft.AtS), fmt.Sprint(ft.Streams), fmt.Sprint(ft.Recovered),
			fmtOptMs(ft.FailoverMs) + " / " + fmtOptMs(ft.FailoverMaxMs), fmtMs(ft.BoundMs), outcome})
	}
	moves := [][]string{{"stream", "at", "from", "to", "old epoch's end", "failover"}}
	for _, s := range r.PerStream {
		for _, fo := range s.Failovers {
			if len(moves) > maxStreamRows {
				break
			}
			moves = append(moves, []string{s.Stream, fmt.Sprintf("%.1f s", fo.AtS), fmt.Sprintf("%s (epoch %d)", fo.From, fo.FromEpoch),
				fmt.Sprintf("%s (epoch %d)", fo.To, fo.ToEpoch), cmpOrNA(fo.OldEnd), fmtMs(fo.Ms)})
		}
	}
	return caption, [][][]string{faults, moves}
}

// fleetMarkdown writes the fleet section of report.md.
func (r *Report) fleetMarkdown(b *strings.Builder) {
	if r.Fleet == nil {
		return
	}
	caption, tables := r.fleetTables()
	fmt.Fprintf(b, "\n## Fleet\n\n%s\n", caption)
	for _, t := range tables {
		if len(t) < 2 {
			continue
		}
		fmt.Fprintf(b, "\n| %s |\n|%s\n", strings.Join(t[0], " | "), strings.Repeat("---|", len(t[0])))
		for _, row := range t[1:] {
			fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
		}
	}
}

// fleetHTML writes the fleet section of report.html.
func (r *Report) fleetHTML(b *strings.Builder) {
	if r.Fleet == nil {
		return
	}
	caption, tables := r.fleetTables()
	fmt.Fprintf(b, "<h2>Fleet</h2><p>%s</p>\n", html.EscapeString(caption))
	for _, t := range tables {
		if len(t) < 2 {
			continue
		}
		b.WriteString("<table><tr>")
		for _, h := range t[0] {
			fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(h))
		}
		b.WriteString("</tr>\n")
		for _, row := range t[1:] {
			b.WriteString("<tr>")
			for _, c := range row {
				fmt.Fprintf(b, "<td>%s</td>", html.EscapeString(c))
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
}
