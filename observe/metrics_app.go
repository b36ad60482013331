package observe

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unikit/unikit/netstack"
)

// Descriptions of httpserve's and the DHCP client's metrics.
var (
	httpRequestsDesc = prometheus.NewDesc("unikit_http_requests_total", "HTTP requests answered, by status class.", []string{"port", "class"}, nil)
	httpBytesDesc    = prometheus.NewDesc("unikit_http_response_bytes_total", "HTTP response bytes written, heads and bodies.", []string{"port"}, nil)
	httpPrepDesc     = prometheus.NewDesc("unikit_http_prepared_responses_total", "HTTP requests answered with a response prepared when the site was loaded.", []string{"port"}, nil)
	httpConnsDesc    = prometheus.NewDesc("unikit_http_connections", "HTTP connections open.", []string{"port"}, nil)
	httpAcceptDesc   = prometheus.NewDesc("unikit_http_connections_accepted_total", "HTTP connections accepted.", []string{"port"}, nil)
	httpRefusedDesc  = prometheus.NewDesc("unikit_http_connections_refused_total", "HTTP connections closed at once because of the connection limit.", []string{"port"}, nil)
	httpHandoffDesc  = prometheus.NewDesc("unikit_http_connections_handed_off_total", "HTTP connections handed to net/http or HTTP/2.", []string{"port"}, nil)

	dhcpBoundDesc   = prometheus.NewDesc("unikit_dhcp_lease_bound", "1 while the NIC holds a DHCP lease, else 0.", nicLabels, nil)
	dhcpAcqDesc     = prometheus.NewDesc("unikit_dhcp_lease_acquired_timestamp_seconds", "When the lease was granted or last renewed.", nicLabels, nil)
	dhcpExpiresDesc = prometheus.NewDesc("unikit_dhcp_lease_expiry_timestamp_seconds", "When the lease expires (absent for an infinite lease).", nicLabels, nil)
	dhcpRenewDesc   = prometheus.NewDesc("unikit_dhcp_lease_renewal_timestamp_seconds", "When the client starts renewing the lease (T1).", nicLabels, nil)
)

// statusClasses are the class labels of Status[1] to Status[5].
var statusClasses = [...]string{"", "1xx", "2xx", "3xx", "4xx", "5xx"}

// httpCollector reads httpserve's counters at scrape time.
type httpCollector struct{ servers map[string]HTTPStats }

// Describe implements prometheus.Collector.
func (c *httpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{httpRequestsDesc, httpBytesDesc, httpPrepDesc, httpConnsDesc, httpAcceptDesc, httpRefusedDesc, httpHandoffDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *httpCollector) Collect(ch chan<- prometheus.Metric) {
	for port, s := range c.servers {
		st := s.Stats()
		for i := 1; i < len(st.Status); i++ {
			ch <- prometheus.MustNewConstMetric(httpRequestsDesc, prometheus.CounterValue, float64(st.Status[i]), port, statusClasses[i])
		}
		ch <- prometheus.MustNewConstMetric(httpBytesDesc, prometheus.CounterValue, float64(st.Bytes), port)
		ch <- prometheus.MustNewConstMetric(httpPrepDesc, prometheus.CounterValue, float64(st.Prepared), port)
		ch <- prometheus.MustNewConstMetric(httpConnsDesc, prometheus.GaugeValue, float64(st.Conns), port)
		ch <- prometheus.MustNewConstMetric(httpAcceptDesc, prometheus.CounterValue, float64(st.Accepted), port)
		ch <- prometheus.MustNewConstMetric(httpRefusedDesc, prometheus.CounterValue, float64(st.Refused), port)
		ch <- prometheus.MustNewConstMetric(httpHandoffDesc, prometheus.CounterValue, float64(st.HandedOff), port)
	}
}

// dhcpCollector reads the NICs' DHCP leases at scrape time.
type dhcpCollector struct{ nics []*netstack.NIC }

// Describe implements prometheus.Collector.
func (c *dhcpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dhcpBoundDesc, dhcpAcqDesc, dhcpExpiresDesc, dhcpRenewDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *dhcpCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.nics {
		name := n.Name()
		if name == "" {
			name = strconv.Itoa(n.ID())
		}
		l, ok := n.Lease()
		bound := 0.0
		if ok {
			bound = 1
		}
		ch <- prometheus.MustNewConstMetric(dhcpBoundDesc, prometheus.GaugeValue, bound, name)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(dhcpAcqDesc, prometheus.GaugeValue, unixSeconds(l.Acquired.UnixNano()), name)
		if !l.Infinite {
			ch <- prometheus.MustNewConstMetric(dhcpExpiresDesc, prometheus.GaugeValue, unixSeconds(l.Expires().UnixNano()), name)
			ch <- prometheus.MustNewConstMetric(dhcpRenewDesc, prometheus.GaugeValue, unixSeconds(l.Acquired.Add(l.T1).UnixNano()), name)
		}
	}
}

// unixSeconds converts Unix nanoseconds to seconds.
func unixSeconds(ns int64) float64 { return float64(ns) / 1e9 }
