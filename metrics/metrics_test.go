package metrics

import (
	"testing"
	"time"
)

// TestRequestSeries: requests land in their worker's series, whether
// through the cached series (200) or the labelled ones (other statuses,
// errors), and workers with the same name in two tenants stay apart.
func TestRequestSeries(t *testing.T) {
	m := New()
	for range 3 {
		m.Request("a", "w", 200, "", time.Millisecond, time.Microsecond)
		m.RequestCPU("a", "w", 50*time.Microsecond)
	}
	m.Request("a", "w", 503, "overloaded", time.Millisecond, 0)
	m.Request("b", "w", 200, "", time.Millisecond, 0)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wedge_requests_total", map[string]string{"tenant": "a", "worker": "w", "status": "200"}, 3},
		{"wedge_requests_total", map[string]string{"tenant": "a", "worker": "w", "status": "503"}, 1},
		{"wedge_requests_total", map[string]string{"tenant": "b", "worker": "w", "status": "200"}, 1},
		{"wedge_errors_total", map[string]string{"tenant": "a", "worker": "w", "code": "overloaded"}, 1},
		{"wedge_request_duration_seconds", map[string]string{"tenant": "a", "worker": "w"}, 4},
		{"wedge_request_duration_seconds", map[string]string{"tenant": "b", "worker": "w"}, 1},
		{"wedge_request_cpu_seconds", map[string]string{"tenant": "a", "worker": "w"}, 3},
		{"wedge_instantiate_duration_seconds", map[string]string{"tenant": "a", "worker": "w"}, 3},
	} {
		if got := value(t, m, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

// value is a counter's value or a histogram's sample count, for the
// series with exactly labels.
func value(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			if len(s.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range s.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if h := s.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}
