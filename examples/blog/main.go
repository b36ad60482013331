// Command blog is a single-purpose blog appliance: a static site served by httpserve from the
// kv content store, through its own userspace TCP/IP stack, as MirageOS blog unikernels are.
//
// The sample blog in site/ is embedded in the binary, so
//
//	go run ./examples/blog
//	curl http://127.0.0.1:8080/about/
//
// serves it through the embedded user-mode network with no root and no other program. Any
// static site generator's output directory can be served instead:
//
//	go run ./examples/blog -site ./public              # a Jekyll, Hugo or Octopress output
//	go run github.com/unikit/unikit/kv/cmd/kvimage -o site.kvimg ./public
//	go run ./examples/blog -image site.kvimg           # the same, verified and precompressed
//
// Every -net mode of package appliance works (user, user,nic=virtio, user,nic=xen, tap:NAME,
// socket:PATH, socket-listen:PATH, vhost-user:PATH, kernel, ...). With -tls-cert and -tls-key it
// serves HTTPS (and HTTP/2) on port 443 of its stack instead of HTTP on port 80. SIGHUP reloads
// -site or -image and switches to the new content without failing a request; SIGINT or SIGTERM
// stops it gracefully.
package main

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/kv"
)

// site is the sample blog; "all:" keeps _headers and _redirects, which httpserve reads.
//
//go:embed all:site
var site embed.FS

// Service ports on the stack.
const (
	httpPort  = 80
	httpsPort = 443
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "blog:", err)
		os.Exit(1)
	}
}

// options are the blog's own flags, beside the appliance's.
type options struct {
	site, image     string
	encodings       string
	tlsCert, tlsKey string
	accessLog, h2c  bool
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("blog", flag.ContinueOnError)
	var (
		o     options
		store *kv.Swap
	)
	app := appliance.New(&appliance.Config{Flags: fs, Out: out, Reload: func(context.Context) error {
		fresh, err := o.load()
		if err != nil {
			return fmt.Errorf("still serving the previous content: %w", err)
		}
		store.Replace(fresh)
		slog.Info("blog: content reloaded", "files", fresh.Len())
		return nil
	}})
	fs.StringVar(&o.site, "site", "", "serve this directory instead of the embedded sample blog")
	fs.StringVar(&o.image, "image", "", "serve this kv content image (built by kv/cmd/kvimage)")
	fs.StringVar(&o.encodings, "encodings", "", "precompress text files at load: comma-separated gzip, br, zstd (default: gzip,br for the embedded blog, none for -site)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS on port 443 with this PEM certificate (needs -tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key for -tls-cert")
	fs.BoolVar(&o.accessLog, "access-log", false, "log every request")
	fs.BoolVar(&o.h2c, "h2c", false, "also accept HTTP/2 with prior knowledge on plain HTTP")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.site != "" && o.image != "" {
		return errors.New("-site and -image are exclusive")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}

	content, err := o.load()
	if err != nil {
		return err
	}
	store = kv.NewSwap(content)

	cfg := &httpserve.Config{Store: store, H2C: o.h2c}
	port := appliance.Port{Number: httpPort, Name: fmt.Sprintf("%d files", content.Len())}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("loading TLS key pair: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		port.Number, port.TLS = httpsPort, cfg.TLS
	}
	if o.accessLog {
		cfg.AccessLog = slog.Default()
	}
	port.Server = httpserve.New(cfg)
	return app.Run(context.Background(), port)
}

// load reads the content to serve and then returns the garbage of loading to the operating
// system: loading reads every file once, and without this the heap the collector lets grow
// would stay resident while the appliance serves. (The appliance keeps the collector's
// headroom to 16 MiB from then on.)
func (o *options) load() (*kv.Snapshot, error) {
	s, err := o.read()
	debug.FreeOSMemory()
	return s, err
}

// read reads the content to serve: the image, the directory, or the embedded blog.
func (o *options) read() (*kv.Snapshot, error) {
	if o.image != "" {
		return kv.OpenImage(o.image)
	}
	opts := &kv.LoadOptions{Logger: slog.Default()}
	if o.encodings != "" {
		opts.Encodings = strings.Split(o.encodings, ",")
	}
	if o.site != "" {
		return kv.LoadDir(o.site, opts)
	}
	if o.encodings == "" {
		opts.Encodings = []string{kv.EncodingGzip, kv.EncodingBrotli}
	}
	sub, err := fs.Sub(site, "site")
	if err != nil {
		return nil, err
	}
	return kv.LoadFS(sub, opts)
}
