package harness

import (
	"testing"
	"time"
)

const scrapeBefore = `# HELP earshot_sdk_callback_seconds Time in SDK callbacks.
# TYPE earshot_sdk_callback_seconds histogram
earshot_sdk_callback_seconds_bucket{le="1e-06"} 0
earshot_sdk_callback_seconds_bucket{le="1e-05"} 500
earshot_sdk_callback_seconds_bucket{le="0.0001"} 1000
earshot_sdk_callback_seconds_bucket{le="+Inf"} 1000
earshot_sdk_callback_seconds_count 1000
earshot_stalls_total{stage="source",reason="no_rtp"} 1
`

const scrapeAfter = `earshot_sdk_callback_seconds_bucket{le="1e-06"} 0
earshot_sdk_callback_seconds_bucket{le="1e-05"} 1400
earshot_sdk_callback_seconds_bucket{le="0.0001"} 1999
earshot_sdk_callback_seconds_bucket{le="+Inf"} 2000
earshot_stalls_total{stage="source",reason="no_rtp"} 2
earshot_stalls_total{stage="sdk_callback",reason="callback_blocked"} 1
earshot_handoff_dropped_total{stream="a \"quoted\", id"} 3 1700000000000
earshot_handoff_dropped_total{stream="b"} 4
malformed line
`

func TestMetricsParseAndQuantiles(t *testing.T) {
	before, after := parseMetrics(scrapeBefore), parseMetrics(scrapeAfter)
	// Between the scrapes: 900 ≤ 10 µs, 99 ≤ 100 µs, 1 beyond.
	d, ok := histogramQuantile(before, after, metricCallbackSeconds, 0.999)
	if !ok || d != 100*time.Microsecond {
		t.Errorf("p99.9 %v %v, want 100µs (the last finite bucket)", d, ok)
	}
	d, ok = histogramQuantile(before, after, metricCallbackSeconds, 0.5)
	if !ok || d != 10*time.Microsecond {
		t.Errorf("p50 %v %v, want 10µs", d, ok)
	}
	if _, ok := histogramQuantile(nil, after, "earshot_missing_seconds", 0.5); ok {
		t.Error("a missing histogram has a quantile")
	}
	if got := after.sumBy(metricHandoffDropped)[""]; got != 7 {
		t.Errorf("handoff drops %v, want 7", got)
	}
	stalls := after.sumBy(metricStalls, "stage", "reason")
	if stalls["source/no_rtp"] != 2 || stalls["sdk_callback/callback_blocked"] != 1 || len(stalls) != 2 {
		t.Errorf("stalls %v", stalls)
	}
	if !after.has(metricCallbackSeconds) || after.has(metricSDKDropped) {
		t.Error("has is wrong")
	}
	for _, s := range after {
		if s.name == metricHandoffDropped && s.value == 3 && s.labels["stream"] != `a "quoted", id` {
			t.Errorf("label %q", s.labels["stream"])
		}
	}
}
