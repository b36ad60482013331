// Command hello serves a short HTTP page on TCP port 80 of its own userspace TCP/IP stack.
//
// By default the stack is attached to the embedded user-mode network, which forwards
// 127.0.0.1:8080 on the host to port 80 of the stack, so
//
//	go run ./examples/hello
//	curl http://127.0.0.1:8080/
//
// works with no root and no other program. The -net flag attaches the stack elsewhere (a TAP
// device, passt's socket, ...) or serves from the host's own sockets with -net kernel; see
// package netstack/netflag. SIGINT or SIGTERM stops it gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	netflag "github.com/unikit/unikit/appliance"
)

// servicePort is the TCP port the page is served on, on the stack.
const servicePort = 80

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	nf := netflag.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	n, err := nf.Open(openCtx, servicePort)
	cancel()
	if err != nil {
		return err
	}
	defer n.Close()
	ln, err := n.Listen()
	if err != nil {
		return err
	}

	mode := n.Mode()
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { page(w, r, mode) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "serving on http://%s (-net %s)\n", n.Addr(), mode)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the usual way
	slog.Info("hello: shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	<-served
	return n.Close()
}

// page writes the greeting.
func page(w http.ResponseWriter, r *http.Request, mode string) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	how := "unikit's userspace TCP/IP stack"
	if mode == "kernel" {
		how = "the host kernel's sockets, for comparison"
	}
	fmt.Fprintf(w, "hello from unikit: this page came through %s (-net %s)\n", how, mode)
}
