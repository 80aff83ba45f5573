package harness

import (
	"bufio"
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// earshot's metric names (issue 5) that the harness reads, when the build
// under test serves them at /metrics on its admin listener. Builds without
// them get "n/a", and drops and stalls from the stream API instead.
const (
	metricCallbackSeconds = "earshot_sdk_callback_seconds"
	metricSDKDropped      = "earshot_sdk_dropped_frames_total"
	metricHandoffDropped  = "earshot_handoff_dropped_total"
	metricStalls          = "earshot_stalls_total"
	metricPipelineLatency = "earshot_pipeline_latency_seconds"
	metricKafkaRecords    = "earshot_kafka_records_total"
	metricGaps            = "earshot_gaps_total"
	metricAudioSeconds    = "earshot_audio_seconds_total"
)

// sample is one line of the Prometheus text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics is a scrape of /metrics.
type metrics []sample

// parseMetrics reads the Prometheus text format (version 0.0.4): comments
// and malformed lines are skipped.
func parseMetrics(text string) metrics {
	var out metrics
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if s, ok := parseSample(line); ok {
			out = append(out, s)
		}
	}
	return out
}

// parseSample parses `name{a="x",b="y"} value [timestamp]`.
func parseSample(line string) (sample, bool) {
	s := sample{labels: map[string]string{}}
	rest := line
	if i := strings.IndexAny(line, "{ "); i < 0 {
		return s, false
	} else if line[i] == '{' {
		s.name = line[:i]
		end := strings.LastIndexByte(line, '}')
		if end < i {
			return s, false
		}
		if !parseLabels(line[i+1:end], s.labels) {
			return s, false
		}
		rest = line[end+1:]
	} else {
		s.name, rest = line[:i], line[i:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// parseLabels parses `a="x",b="y"` (values may hold escaped quotes and
// commas) into m.
func parseLabels(text string, m map[string]string) bool {
	for text != "" {
		eq := strings.IndexByte(text, '=')
		if eq < 0 || eq+1 >= len(text) || text[eq+1] != '"' {
			return false
		}
		name := strings.TrimSpace(text[:eq])
		var b strings.Builder
		i := eq + 2
		for ; i < len(text) && text[i] != '"'; i++ {
			if text[i] == '\\' && i+1 < len(text) {
				i++
				switch text[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(text[i])
				}
				continue
			}
			b.WriteByte(text[i])
		}
		if i >= len(text) {
			return false
		}
		m[name] = b.String()
		text = strings.TrimLeft(text[i+1:], ", ")
	}
	return true
}

// has reports whether the scrape has any sample of the metric name (for a
// histogram, its base name).
func (m metrics) has(name string) bool {
	return slices.ContainsFunc(m, func(s sample) bool {
		return s.name == name || s.name == name+"_count" || s.name == name+"_bucket"
	})
}

// sumBy sums the samples called name by the value of label (all of them
// under "" when label is "").
func (m metrics) sumBy(name string, label ...string) map[string]float64 {
	out := make(map[string]float64)
	for _, s := range m {
		if s.name != name {
			continue
		}
		var key []string
		for _, l := range label {
			key = append(key, s.labels[l])
		}
		out[strings.Join(key, "/")] += s.value
	}
	return out
}

// bucket is a histogram's cumulative count at an upper bound.
type bucket struct {
	le    float64
	count float64
}

// histogram returns the buckets of the histogram name, summed over its
// label sets, by increasing bound.
func (m metrics) histogram(name string) []bucket {
	byLE := make(map[float64]float64)
	for _, s := range m {
		if s.name != name+"_bucket" {
			continue
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil {
			continue
		}
		byLE[le] += s.value
	}
	out := make([]bucket, 0, len(byLE))
	for le, c := range byLE {
		out = append(out, bucket{le, c})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	return out
}

// histogramQuantile returns the q-quantile of the observations between two
// scrapes (before may be nil) of the histogram name, in seconds, as the
// upper bound of the bucket that holds it; ok is false without
// observations.
func histogramQuantile(before, after metrics, name string, q float64) (time.Duration, bool) {
	b := after.histogram(name)
	if before != nil {
		prev := before.histogram(name)
		for i := range b {
			for _, p := range prev {
				if p.le == b[i].le {
					b[i].count -= p.count
				}
			}
		}
	}
	if len(b) == 0 || b[len(b)-1].count <= 0 {
		return 0, false
	}
	rank := q * b[len(b)-1].count
	for i, x := range b {
		if x.count >= rank {
			if math.IsInf(x.le, 1) {
				if i == 0 {
					return 0, false
				}
				// Beyond the last finite bucket: its bound is all we know.
				return time.Duration(b[i-1].le * float64(time.Second)), true
			}
			return time.Duration(x.le * float64(time.Second)), true
		}
	}
	return 0, false
}
