package xenlab

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/unikit/unikit/internal/peers"
)

// BenchmarkXenBulk moves 16 MiB each way between dom0 and the domU through our netfront and
// stack, then through Linux's xen-netfront and kernel stack on the same vif in the same boot,
// and reports the four rates in Mbit/s ("down" is domU to dom0). One boot per run of the
// benchmark, whatever b.N: run it with -benchtime 1x. Under TCG every figure is slow, and the
// host's load moves them a lot; compare the two front ends within one run.
func BenchmarkXenBulk(b *testing.B) {
	if what := Available(); what != "" {
		peers.Missing(b, what)
	}
	ctx := context.Background()
	lab, err := Build(ctx, Config{
		Dir:      b.TempDir(),
		DomUArgs: []string{"-ip", "192.168.0.2/24", "-probe-queues", ProbePlaceholder},
	})
	if err != nil {
		b.Fatal(err)
	}
	knobs := append([]string{"xlab_xenstored=oxenstored", "xlab_probe=1", "xlab_reconnect=0", "xlab_wait=150",
		"xlab_bytes=" + strconv.Itoa(bulkBytes)}, strings.Fields(os.Getenv(envKnobs))...)
	b.ResetTimer()
	res, err := lab.Boot(ctx, bootTimeout, knobs, openConsole(b))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	dom0 := res.Find(Marker)
	for _, front := range []string{"unikit", "linux"} {
		for _, dir := range []string{"down", "up"} {
			l := findLine(dom0, Marker+"xfer front="+front+" dir="+dir+" ")
			m := rateRE.FindStringSubmatch(l)
			if m == nil || !strings.Contains(l, "sha256=ok") {
				b.Fatalf("no good %s transfer through the %s front end: %q", dir, front, l)
			}
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(v, front+"-"+dir+"-Mbit/s")
		}
	}
}
