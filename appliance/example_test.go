package appliance_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/unikit/unikit/appliance"
)

// How an appliance uses the pieces on their own: register the network flags, parse the
// command line, open the network for the service port and serve on its listener. With the
// default -net user, the page is reachable on the -listen address of the host.
func Example() {
	fs := flag.NewFlagSet("appliance", flag.ExitOnError)
	nf := appliance.Register(fs, nil)
	fs.Parse([]string{"-net", "user", "-listen", "127.0.0.1:0"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	network, err := nf.Open(ctx, 80)
	if err != nil {
		log.Fatal(err)
	}
	defer network.Close()
	ln, err := network.Listen(80)
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served by the appliance's own TCP/IP stack")
	}))

	resp, err := http.Get("http://" + network.Addr(80).String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(network.Mode())
	fmt.Println(string(body))
	// Output:
	// user
	// served by the appliance's own TCP/IP stack
}

// debugMux returns net/http/pprof's handlers on a mux of their own, away from the API's.
func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// An API on port 80 and pprof on port 6060 of one stack, under -net user: the user-mode
// network forwards a host address to each, and both are fetched from the host. (-listen
// 127.0.0.1:0 picks free host ports; by default they would be 127.0.0.1:8080 and
// 127.0.0.1:6060.)
func ExampleNetwork_Serve() {
	fs := flag.NewFlagSet("api", flag.ExitOnError)
	nf := appliance.Register(fs, nil)
	fs.Parse([]string{"-listen", "127.0.0.1:0"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	network, err := nf.Open(ctx, 80, 6060)
	if err != nil {
		log.Fatal(err)
	}
	defer network.Close()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"ok"}`)
	})
	serving, err := network.Serve(
		appliance.Port{Number: 80, Handler: api},
		appliance.Port{Number: 6060, Handler: debugMux()},
	)
	if err != nil {
		log.Fatal(err)
	}
	defer serving.Shutdown(ctx)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url string) string {
		resp, err := client.Get(url)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Status + " " + string(body)
	}
	fmt.Println(get("http://" + network.Addr(80).String() + "/v1/health"))
	profile := get("http://" + network.Addr(6060).String() + "/debug/pprof/goroutine?debug=1")
	fmt.Println(profile[:strings.Index(profile, ":")])
	// Output:
	// 200 OK {"status":"ok"}
	// 200 OK goroutine profile
}
