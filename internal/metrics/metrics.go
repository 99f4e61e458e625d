// Package metrics exposes sadbd to Prometheus: SA contexts by state, calls
// by function and result code, call latency, sessions, subscriptions, the
// store's commits and the data path's packets by outcome. It reads the
// engine, the store and the data path at scrape time and is told about
// calls by the RPC server. ParseText reads the exposition back, for the
// benchmarks and tests that check it.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/datapath/userspace"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

// Metrics is the daemon's registry.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// DatapathStats is a packet path whose counters the metrics expose.
type DatapathStats interface {
	Stats() userspace.Stats
}

// New registers the collectors. store may be nil (no persistence), and dp
// nil (no data path).
func New(e *engine.Engine, store *bolt.Store, dp DatapathStats) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sadb", Name: "calls_total",
		Help: "API calls served, by WFP function and result code (the FWP_E_/Win32/RPC name, or ERROR_SUCCESS).",
	}, []string{"function", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "sadb", Name: "call_duration_seconds",
		Help:    "Time the engine took per API call, durable commit included.",
		Buckets: prometheus.ExponentialBuckets(5e-6, 2.5, 14),
	}, []string{"function"})
	m.reg.MustRegister(m.calls, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&engineCollector{e: e}, &storeCollector{s: store})
	if dp != nil {
		m.reg.MustRegister(&datapathCollector{dp: dp})
	}
	return m
}

// Observe records one call; it is the RPC server's Observer.
func (m *Metrics) Observe(function string, code wfp.Error, d time.Duration) {
	name := "ERROR_SUCCESS"
	if code != 0 {
		name = code.Name()
	}
	m.calls.WithLabelValues(function, name).Inc()
	m.duration.WithLabelValues(function).Observe(d.Seconds())
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

var (
	ctxDesc      = prometheus.NewDesc("sadb_sa_contexts", "SA contexts by life-cycle state.", []string{"state"}, nil)
	filtersDesc  = prometheus.NewDesc("sadb_filters", "Filters held by the engine.", nil, nil)
	sessionsDesc = prometheus.NewDesc("sadb_sessions", "Open sessions.", nil, nil)
	subsDesc     = prometheus.NewDesc("sadb_subscriptions", "SA-context change subscriptions.", nil, nil)
	kmDesc       = prometheus.NewDesc("sadb_key_managers", "Registered key managers.", nil, nil)
	activeDesc   = prometheus.NewDesc("sadb_active_sas", "SAs in the bundles of all SA contexts.", nil, nil)
	addedDesc    = prometheus.NewDesc("sadb_sas_added_total", "SAs added since the engine started.", nil, nil)
	deletedDesc  = prometheus.NewDesc("sadb_sas_deleted_total", "SAs deleted since the engine started.", nil, nil)
)

type engineCollector struct{ e *engine.Engine }

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ctxDesc, filtersDesc, sessionsDesc, subsDesc, kmDesc, activeDesc, addedDesc, deletedDesc} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.Stats()
	for s := wfp.SAContextCreated; s <= wfp.SAContextExpired; s++ {
		ch <- prometheus.MustNewConstMetric(ctxDesc, prometheus.GaugeValue, float64(st.ContextsByState[s]), s.String())
	}
	ch <- prometheus.MustNewConstMetric(filtersDesc, prometheus.GaugeValue, float64(st.Filters))
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(subsDesc, prometheus.GaugeValue, float64(st.Subscriptions))
	ch <- prometheus.MustNewConstMetric(kmDesc, prometheus.GaugeValue, float64(st.KeyManagers))
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(st.ActiveSAs))
	ch <- prometheus.MustNewConstMetric(addedDesc, prometheus.CounterValue, float64(st.SAsAdded))
	ch <- prometheus.MustNewConstMetric(deletedDesc, prometheus.CounterValue, float64(st.SAsDeleted))
}

var (
	commitsDesc   = prometheus.NewDesc("sadb_store_commits_total", "Store commits (one per committed engine transaction).", nil, nil)
	commitErrDesc = prometheus.NewDesc("sadb_store_commit_errors_total", "Store commits that failed.", nil, nil)
	batchesDesc   = prometheus.NewDesc("sadb_store_log_frames_total", "Write-ahead log frames written (one fdatasync each: group commits).", nil, nil)
	commitLatDesc = prometheus.NewDesc("sadb_store_commit_seconds", "Commit latency as the engine sees it (queue and log write).", nil, nil)
	diskLatDesc   = prometheus.NewDesc("sadb_store_log_write_seconds", "Duration of one log frame write, fdatasync included.", nil, nil)
	batchDesc     = prometheus.NewDesc("sadb_store_frame_commits", "Commits carried per log frame.", nil, nil)
	sizeDesc      = prometheus.NewDesc("sadb_store_bytes", "Bytes of the store file in use.", nil, nil)
	logUsedDesc   = prometheus.NewDesc("sadb_store_log_used_bytes", "Bytes of the write-ahead log not yet checkpointed.", nil, nil)
	ckptDesc      = prometheus.NewDesc("sadb_store_checkpoints_total", "Checkpoints of the log into the store file.", nil, nil)
	ckptErrDesc   = prometheus.NewDesc("sadb_store_checkpoint_errors_total", "Checkpoints that failed.", nil, nil)
	ckptLatDesc   = prometheus.NewDesc("sadb_store_checkpoint_seconds", "Duration of one checkpoint.", nil, nil)
	logWaitDesc   = prometheus.NewDesc("sadb_store_log_wait_seconds", "Time commits waited for log space (the checkpoint falling behind).", nil, nil)
)

type storeCollector struct{ s *bolt.Store }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{commitsDesc, commitErrDesc, batchesDesc, commitLatDesc, diskLatDesc, batchDesc, sizeDesc,
		logUsedDesc, ckptDesc, ckptErrDesc, ckptLatDesc, logWaitDesc} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s == nil {
		return
	}
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(commitsDesc, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(commitErrDesc, prometheus.CounterValue, float64(st.CommitErrors))
	ch <- prometheus.MustNewConstMetric(batchesDesc, prometheus.CounterValue, float64(st.Batches))
	ch <- histogram(commitLatDesc, st.CommitSeconds)
	ch <- histogram(diskLatDesc, st.DiskSeconds)
	ch <- histogram(batchDesc, st.BatchCalls)
	ch <- prometheus.MustNewConstMetric(sizeDesc, prometheus.GaugeValue, float64(st.Size))
	ch <- prometheus.MustNewConstMetric(logUsedDesc, prometheus.GaugeValue, float64(st.LogUsed))
	ch <- prometheus.MustNewConstMetric(ckptDesc, prometheus.CounterValue, float64(st.Checkpoints))
	ch <- prometheus.MustNewConstMetric(ckptErrDesc, prometheus.CounterValue, float64(st.CheckpointErrors))
	ch <- histogram(ckptLatDesc, st.CheckpointSeconds)
	ch <- histogram(logWaitDesc, st.LogWaitSeconds)
}

func histogram(d *prometheus.Desc, h bolt.Histogram) prometheus.Metric {
	b := make(map[float64]uint64, len(h.Buckets))
	for _, x := range h.Buckets {
		b[x.UpperBound] = x.Count
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, b)
}

var (
	dpOutDesc = prometheus.NewDesc("sadb_datapath_out_packets_total",
		"Packets read from the TUN device, by outcome: protected, clear (a PERMIT filter or none), blocked (a BLOCK filter), "+
			"no_sa (an IPsec filter without a usable SA), sa_expired (lifetime or sequence numbers spent), malformed, send_error.",
		[]string{"result"}, nil)
	dpOutBytesDesc   = prometheus.NewDesc("sadb_datapath_out_protected_bytes_total", "Bytes of the packets protected, before protection.", nil, nil)
	dpFragmentedDesc = prometheus.NewDesc("sadb_datapath_out_fragmented_total", "Protected packets fragmented to fit the path MTU.", nil, nil)
	dpReasmDesc      = prometheus.NewDesc("sadb_datapath_out_reassembled_total", "Datagrams reassembled from the local stack's fragments before protection.", nil, nil)
	dpReasmDropDesc  = prometheus.NewDesc("sadb_datapath_out_reassembly_dropped_total",
		"Fragments given up on: malformed, overlapping, timed out, evicted, or of a datagram too large to protect.", nil, nil)
	dpInDesc = prometheus.NewDesc("sadb_datapath_in_packets_total",
		"ESP and AH packets received, by outcome: accepted (written to the TUN device), invalid_spi, replay, auth (ICV check failed), "+
			"malformed, selector (inner packet outside the SA's traffic), udp_invalid, sa_expired, bundle_mismatch, dummy (next header 59), tun_error.",
		[]string{"result"}, nil)
	dpInBytesDesc = prometheus.NewDesc("sadb_datapath_in_accepted_bytes_total", "Bytes of the packets accepted, after decapsulation.", nil, nil)
)

type datapathCollector struct{ dp DatapathStats }

func (c *datapathCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dpOutDesc, dpOutBytesDesc, dpFragmentedDesc, dpReasmDesc, dpReasmDropDesc, dpInDesc, dpInBytesDesc} {
		ch <- d
	}
}

func (c *datapathCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.dp.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(dpOutDesc, st.OutProtected, "protected")
	counter(dpOutDesc, st.OutClear, "clear")
	counter(dpOutDesc, st.OutBlocked, "blocked")
	counter(dpOutDesc, st.OutNoSA, "no_sa")
	counter(dpOutDesc, st.OutSAExpired, "sa_expired")
	counter(dpOutDesc, st.OutMalformed, "malformed")
	counter(dpOutDesc, st.OutSendErrors, "send_error")
	counter(dpOutBytesDesc, st.OutProtectedBytes)
	counter(dpFragmentedDesc, st.OutFragmented)
	counter(dpReasmDesc, st.OutReassembled)
	counter(dpReasmDropDesc, st.OutReasmDropped)
	counter(dpInDesc, st.InAccepted, "accepted")
	counter(dpInDesc, st.InInvalidSPI, "invalid_spi")
	counter(dpInDesc, st.InReplay, "replay")
	counter(dpInDesc, st.InAuth, "auth")
	counter(dpInDesc, st.InMalformed, "malformed")
	counter(dpInDesc, st.InSelector, "selector")
	counter(dpInDesc, st.InUDPInvalid, "udp_invalid")
	counter(dpInDesc, st.InSAExpired, "sa_expired")
	counter(dpInDesc, st.InBundleMismatch, "bundle_mismatch")
	counter(dpInDesc, st.InDummy, "dummy")
	counter(dpInDesc, st.InTUNErrors, "tun_error")
	counter(dpInBytesDesc, st.InAcceptedBytes)
}
