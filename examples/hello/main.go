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
// package appliance, which also stops it gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/unikit/unikit/appliance"
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
	app := appliance.New(&appliance.Config{Flags: fs, Out: out})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	spec, err := app.Flags().Parse()
	if err != nil {
		return err
	}
	mode := spec.Mode()
	return app.Run(context.Background(), appliance.Port{
		Number:  servicePort,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { page(w, r, mode) }),
	})
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
