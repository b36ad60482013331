package observe

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handleMetrics serves /metrics in the Prometheus exposition format.
func (o *Observer) handleMetrics() {
	o.mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{
		ErrorLog: slogErrorLog{o.log}, ErrorHandling: promhttp.ContinueOnError}))
}

// Registry returns the registry behind /metrics, for an application to add collectors of its
// own to.
func (o *Observer) Registry() *prometheus.Registry { return o.reg }

// newRegistry registers the collectors of what cfg names and the Go runtime's.
func newRegistry(c *Config) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if c.Stack != nil {
		cs = append(cs, &stackCollector{s: c.Stack})
	}
	if len(c.NICs) > 0 {
		cs = append(cs, &dhcpCollector{nics: c.NICs})
	}
	if len(c.HTTP) > 0 {
		cs = append(cs, &httpCollector{servers: c.HTTP})
	}
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// slogErrorLog is promhttp's error log on the observer's logger.
type slogErrorLog struct {
	log interface{ Error(string, ...any) }
}

// Println implements promhttp.Logger.
func (l slogErrorLog) Println(v ...any) { l.log.Error("observe: /metrics", "err", v) }
