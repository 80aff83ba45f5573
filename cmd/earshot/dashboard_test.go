package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

const dashboardPath = "dashboard/earshot.json"

// dashboardPanel is the part of a Grafana panel the tests read.
type dashboardPanel struct {
	Title   string           `json:"title"`
	Type    string           `json:"type"`
	Panels  []dashboardPanel `json:"panels"` // of a collapsed row
	Targets []struct {
		Expr          string `json:"expr"`
		LabelSelector string `json:"labelSelector"`
		ProfileTypeID string `json:"profileTypeId"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) []dashboardPanel {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var flat []dashboardPanel
	for _, p := range d.Panels {
		flat = append(append(flat, p), p.Panels...)
	}
	return flat
}

var queriedMetric = regexp.MustCompile(`\b(?:earshot|go|process)_[a-z_]+\b`)

// dashboardMetrics returns the metric names the dashboard's PromQL queries
// use, histogram series (_bucket, _sum, _count) as written.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, p := range loadDashboard(t) {
		for _, q := range p.Targets {
			names = append(names, queriedMetric.FindAllString(q.Expr, -1)...)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) < 20 {
		t.Fatalf("the dashboard queries only %v", names)
	}
	return names
}

// TestDashboardShowsWhatOperatorsNeed: every panel the issue asks for is
// there, the flame graph filters on stream and stage, and every earshot
// metric queried is defined (TestMetricsDuringARun checks every metric
// queried against a live /metrics).
func TestDashboardShowsWhatOperatorsNeed(t *testing.T) {
	panels := loadDashboard(t)
	var titles []string
	flame := false
	for _, p := range panels {
		titles = append(titles, p.Title)
		for _, q := range p.Targets {
			if p.Type == "flamegraph" && strings.Contains(q.LabelSelector, "stream=~") && strings.Contains(q.LabelSelector, "stage=~") &&
				strings.HasPrefix(q.ProfileTypeID, "process_cpu:") {
				flame = true
			}
		}
	}
	all := strings.Join(titles, "\n")
	for _, want := range []string{"Streams up", "Streams down", "Stalls by stage and reason", "SDK callback latency",
		"Handoff queue depth", "Dropped frames", "Pipeline latency", "Kafka records and errors", "Spool"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel %q", want)
		}
	}
	if !flame {
		t.Error("no Pyroscope CPU flame graph filtered by stream and stage")
	}
	for _, name := range dashboardMetrics(t) {
		base := histogramBase(name)
		if strings.HasPrefix(name, "earshot_") && !slices.ContainsFunc(metrics, func(m *metric) bool { return m.Name == name || m.Name == base }) {
			t.Errorf("the dashboard queries %s, which metrics.go does not define", name)
		}
	}
}

// checkDashboardQueries: every metric the dashboard queries is in a scrape
// of /metrics.
func checkDashboardQueries(t *testing.T, scrape metricSet) {
	t.Helper()
	for _, name := range dashboardMetrics(t) {
		if scrape[name] != nil {
			continue
		}
		if f := scrape[histogramBase(name)]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("the dashboard queries %s, which /metrics does not have", name)
		}
	}
}

// histogramBase is the histogram a _bucket, _sum or _count series is of.
func histogramBase(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}
