package appliance_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	netflag "github.com/unikit/unikit/appliance"
)

// How an appliance takes the shared network flags: register them, parse the command line,
// open the network for the service port and serve on its listener. With the default -net
// user, the page is reachable on the -listen address of the host.
func Example() {
	fs := flag.NewFlagSet("appliance", flag.ExitOnError)
	nf := netflag.Register(fs)
	fs.Parse([]string{"-net", "user", "-listen", "127.0.0.1:0"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	network, err := nf.Open(ctx, 80)
	if err != nil {
		log.Fatal(err)
	}
	defer network.Close()
	ln, err := network.Listen()
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served by the appliance's own TCP/IP stack")
	}))

	resp, err := http.Get("http://" + network.Addr().String() + "/")
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
