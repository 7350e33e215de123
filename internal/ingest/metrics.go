package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omamori-project/omamori/internal/deadletter"
)

type metrics struct {
	events         *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	batches        prometheus.Counter
	publishSeconds prometheus.Histogram
	publishErrors  prometheus.Counter
	dead           *deadletter.Counter
	conns          *prometheus.GaugeVec
	rejected       *prometheus.CounterVec
	untimed        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omamori_ingest_events_total",
			Help: "Events acknowledged by the bus, by source.",
		}, []string{"source"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omamori_ingest_bytes_total",
			Help: "Raw bytes of records acknowledged by the bus (events and dead letters), by source.",
		}, []string{"source"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omamori_ingest_batches_total",
			Help: "Batches acknowledged by the bus.",
		}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "omamori_ingest_publish_seconds",
			Help:    "Time from handing a batch to the bus to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omamori_ingest_publish_errors_total",
			Help: "Batches the bus did not acknowledge; their senders were not acknowledged either.",
		}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "omamori_ingest_connections",
			Help: "Open connections, by listener.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omamori_ingest_connections_rejected_total",
			Help: "Connections closed at once because the listener had its maximum open.",
		}, []string{"source"}),
		untimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omamori_ingest_time_from_receipt_total",
			Help: "Events acknowledged whose record had no time that could be read, so that their time is that of arrival (tag time_from_receipt), by source.",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.events, m.bytes, m.batches, m.publishSeconds, m.publishErrors, m.conns, m.rejected, m.untimed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	dead, err := deadletter.NewCounter(reg)
	if err != nil {
		return nil, err
	}
	m.dead = dead
	return m, nil
}
