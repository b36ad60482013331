//go:build linux

// Command domu is the init of the Xen test's domU (package xenlab): a unikit appliance that
// the guest runtime starts with -net at its default, which in a Xen domain is our netfront.
//
// It first connects netfront to the vif and closes it again once per -probe-queues entry
// (one handshake per queue count), printing what xenstore holds, then serves HTTP on port 80
// of our stack:
//
//	/         a short page naming the network it came through
//	/blob?n=N the first N bytes of package payload's stream
//	/sink     reads the request body and answers its SHA-256 in hex
//	/switch   stops our stack, hands the vif to Linux's xen-netfront and serves the same
//	          paths from the kernel's sockets, for comparison
//	/quit     ends the program, and with it the domU
//
// Its lines for the harness start with "XENLAB-DOMU ".
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/guest"
	"github.com/unikit/unikit/internal/xenlab/payload"
)

// servicePort is the TCP port the paths are served on.
const servicePort = 80

func main() { guest.Main(nil, run) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("domu", flag.ContinueOnError)
	probe := fs.String("probe-queues", "", "comma-separated queue counts: connect netfront with each and close it before serving")
	kernelIP := fs.String("kernel-ip", "192.168.0.2/24", "address of Linux's interface after /switch")
	app := appliance.New(&appliance.Config{Flags: fs, Out: os.Stdout})
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec, err := app.Flags().Parse()
	if err != nil {
		return err
	}
	report("net=%s in-xen=%t", spec.Mode(), guest.InXen())
	log := slog.Default()
	wd := startWatchdog(45 * time.Second)
	if *probe != "" {
		for _, f := range strings.Split(*probe, ",") {
			q, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("-probe-queues: %w", err)
			}
			if err := probeOnce(ctx, q, log, wd); err != nil {
				report("probe queues=%d FAIL %v", q, err)
				return err
			}
		}
	}

	var mode atomic.Value
	mode.Store(spec.Mode())
	ourCtx, switchOver := context.WithCancel(ctx)
	defer switchOver()
	quit := make(chan struct{})
	var quitOnce atomic.Bool
	wd.enter("opening -net " + spec.Mode() + " and serving")
	h := handler(&mode, wd, switchOver, func() {
		if quitOnce.CompareAndSwap(false, true) {
			close(quit)
		}
	})
	if err := app.Run(ourCtx, appliance.Port{Number: servicePort, Handler: h}); err != nil {
		return err
	}
	if ctx.Err() != nil || quitOnce.Load() {
		return nil
	}
	report("our netfront closed; handing the vif to Linux")
	mode.Store("kernel")
	return serveKernel(ctx, h, *kernelIP, quit, log)
}

// blobs keeps the stream's bytes of the last size asked for, so that generating them is
// not part of the transfers the test times.
var blobs blobCache

type blobCache struct {
	mu   sync.Mutex
	data []byte
}

func (c *blobCache) get(n int64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(c.data)) != n {
		c.data, _ = io.ReadAll(payload.Reader(n))
	}
	return c.data
}

// report prints one line for the harness.
func report(format string, args ...any) {
	fmt.Printf("XENLAB-DOMU "+format+"\n", args...)
}

// handler serves the test's paths, disarming wd at the first page; switchOver and quit are called by /switch and /quit after
// their answer is written.
func handler(mode *atomic.Value, wd *watchdog, switchOver, quit func()) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		wd.disarm()
		fmt.Fprintf(w, "hello from unikit in a Xen domU (-net %s)\n", mode.Load())
	})
	mux.HandleFunc("GET /blob", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "want ?n=BYTES", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.Write(blobs.get(n))
	})
	mux.HandleFunc("POST /sink", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %d\n", hex.EncodeToString(h.Sum(nil)), n)
	})
	mux.HandleFunc("GET /switch", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "switching to Linux's netfront")
		w.(http.Flusher).Flush()
		switchOver()
	})
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		w.(http.Flusher).Flush()
		quit()
		switchOver()
	})
	return mux
}
