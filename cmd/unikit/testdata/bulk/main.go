// Command bulk is the appliance the unikit network tests boot: besides a page at /, it takes
// an upload at /upload and answers with the SHA-256 of what arrived, and streams a download
// from /download?n=BYTES whose bytes the client can reproduce (ChaCha8 keyed with [Seed]),
// so that bulk TCP through a virtual NIC is checked end to end in both directions.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"

	"github.com/unikit/unikit/appliance"
)

// Page is the body of / .
const Page = "bulk: upload to /upload, download from /download?n=BYTES\n"

// Seed keys the ChaCha8 stream /download sends; the tests key theirs with it too.
const Seed = "unikit bulk download, 32 bytes!!"

// maxDownload bounds n, so that a typo does not stream forever.
const maxDownload = 1 << 30

func main() {
	fs := flag.NewFlagSet("bulk", flag.ContinueOnError)
	app := appliance.New(&appliance.Config{Flags: fs})
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bulk:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, Page) })
	mux.HandleFunc("POST /upload", upload)
	mux.HandleFunc("GET /download", download)
	if err := app.Run(context.Background(), appliance.Port{Number: 80, Handler: mux}); err != nil {
		fmt.Fprintln(os.Stderr, "bulk:", err)
		os.Exit(1)
	}
}

// upload reads the request body and answers "SHA256HEX BYTES".
func upload(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%s %d\n", hex.EncodeToString(h.Sum(nil)), n)
}

// download sends n bytes of the ChaCha8 stream keyed with Seed.
func download(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > maxDownload {
		http.Error(w, "want n=BYTES, at most 1 GiB", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	_, _ = io.CopyN(w, rand.NewChaCha8([32]byte([]byte(Seed))), n)
}
