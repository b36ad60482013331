// Command vmload is the appliance the VM benchmark loads: the same handlers behind whatever
// -net says, so that our virtio driver and stack (-net virtio-pci, the default in a guest) and
// Linux's own (-net kernel) serve identical work.
//
//	GET  /4k          a 4096-byte page
//	GET  /bulk?mib=N  N MiB (at most 1024), with the SHA-256 of what was sent in the
//	                  X-Sha256 trailer
//	POST /sink        reads the body and answers with its length and SHA-256 in hex
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/unikit/unikit/appliance"
)

func main() {
	fs := flag.NewFlagSet("vmload", flag.ContinueOnError)
	app := appliance.New(&appliance.Config{Flags: fs})
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "vmload:", err)
		os.Exit(2)
	}
	if err := app.Run(context.Background(), appliance.Port{Number: 80, Name: "vmload", Handler: handler()}); err != nil {
		fmt.Fprintln(os.Stderr, "vmload:", err)
		os.Exit(1)
	}
}

// handler serves the three paths.
func handler() http.Handler {
	page := make([]byte, 4096)
	for i := range page {
		page[i] = "unikit vm load\n"[i%15]
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*131 + i>>8)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /4k", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "4096")
		w.Write(page)
	})
	mux.HandleFunc("GET /bulk", func(w http.ResponseWriter, r *http.Request) {
		mib, err := strconv.Atoi(r.URL.Query().Get("mib"))
		if err != nil || mib < 1 || mib > 1024 {
			http.Error(w, "want mib=1..1024", http.StatusBadRequest)
			return
		}
		w.Header().Set("Trailer", "X-Sha256")
		w.Header().Set("Content-Type", "application/octet-stream")
		h := sha256.New()
		for range mib * 16 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			h.Write(chunk)
		}
		w.Header().Set("X-Sha256", hex.EncodeToString(h.Sum(nil)))
	})
	mux.HandleFunc("POST /sink", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
	})
	return mux
}
