package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of Wedge's metrics.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	instantiate *prometheus.HistogramVec
	cpu         *prometheus.HistogramVec
	deploys     *prometheus.CounterVec

	// series holds each worker's series of the per-request metrics:
	// WithLabelValues hashes the labels and takes a lock, four times per
	// request otherwise.
	seriesMu sync.RWMutex
	series   map[workerKey]*workerSeries
}

type workerKey struct{ tenant, worker string }

// workerSeries are one worker's series of the per-request metrics.
type workerSeries struct {
	ok                         prometheus.Counter // requests answered 200
	duration, instantiate, cpu prometheus.Observer
}

func (m *Metrics) worker(tenant, worker string) *workerSeries {
	k := workerKey{tenant, worker}
	m.seriesMu.RLock()
	s := m.series[k]
	m.seriesMu.RUnlock()
	if s != nil {
		return s
	}
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	if s = m.series[k]; s == nil {
		s = &workerSeries{
			ok:          m.requests.WithLabelValues(tenant, worker, "200"),
			duration:    m.duration.WithLabelValues(tenant, worker),
			instantiate: m.instantiate.WithLabelValues(tenant, worker),
			cpu:         m.cpu.WithLabelValues(tenant, worker),
		}
		m.series[k] = s
	}
	return s
}

// latencyBuckets span 10 µs to 10 s.
var latencyBuckets = prometheus.ExponentialBuckets(10e-6, 2.5, 16)

// New creates the metrics and their registry, with Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		series: make(map[workerKey]*workerSeries),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wedge_requests_total",
			Help: "Requests served by workers, by tenant, worker and status code.",
		}, []string{"tenant", "worker", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wedge_errors_total",
			Help: "Requests answered by Wedge instead of the worker, by Wedge-Error code.",
		}, []string{"tenant", "worker", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wedge_request_duration_seconds",
			Help:    "Time from routing a request to the end of the worker's response.",
			Buckets: latencyBuckets,
		}, []string{"tenant", "worker"}),
		instantiate: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wedge_instantiate_duration_seconds",
			Help:    "Time to make a request's fresh instance ready.",
			Buckets: latencyBuckets,
		}, []string{"tenant", "worker"}),
		cpu: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wedge_request_cpu_seconds",
			Help:    "CPU time of a request's guest, read from its thread's CPU clock.",
			Buckets: latencyBuckets,
		}, []string{"tenant", "worker"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wedge_deploys_total",
			Help: "Worker uploads by result (ok, invalid, error).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.errors, m.duration, m.instantiate, m.cpu, m.deploys,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors of other packages to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// GaugeFunc registers a gauge whose value f reports when scraped (f must
// be safe for concurrent use and fast).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter whose value f reports when scraped; f must
// never decrease.
func (m *Metrics) CounterFunc(name, help string, f func() float64) error {
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// CounterVecFunc registers a counter with one label whose values, by label
// value, f reports when scraped; no value may ever decrease.
func (m *Metrics) CounterVecFunc(name, help, label string, f func() map[string]float64) error {
	return m.reg.Register(&funcVec{desc: prometheus.NewDesc(name, help, []string{label}, nil), f: f})
}

type funcVec struct {
	desc *prometheus.Desc
	f    func() map[string]float64
}

func (c *funcVec) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcVec) Collect(ch chan<- prometheus.Metric) {
	for k, v := range c.f() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, v, k)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Request records one request a worker answered (code empty) or Wedge
// answered with a Wedge-Error code.
func (m *Metrics) Request(tenant, worker string, status int, code string, total, instantiate time.Duration) {
	if m == nil {
		return
	}
	ws := m.worker(tenant, worker)
	if status == http.StatusOK {
		ws.ok.Inc()
	} else {
		m.requests.WithLabelValues(tenant, worker, strconv.Itoa(status)).Inc()
	}
	if code != "" {
		m.errors.WithLabelValues(tenant, worker, code).Inc()
	}
	ws.duration.Observe(total.Seconds())
	if instantiate > 0 {
		ws.instantiate.Observe(instantiate.Seconds())
	}
}

// RequestCPU records the CPU time a request's guest used.
func (m *Metrics) RequestCPU(tenant, worker string, cpu time.Duration) {
	if m == nil {
		return
	}
	m.worker(tenant, worker).cpu.Observe(cpu.Seconds())
}

// Deploy records a worker upload's result: "ok", "invalid" or "error".
func (m *Metrics) Deploy(result string) {
	if m == nil {
		return
	}
	m.deploys.WithLabelValues(result).Inc()
}
