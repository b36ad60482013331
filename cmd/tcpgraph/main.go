// Command tcpgraph draws the time-sequence graph of one TCP connection of a pcap capture as
// SVG, as tcptrace draws them: the segments sent as vertical bars (retransmissions in red),
// the ACKs received as a green step line and the offered window's edge in yellow.
//
//	tcpgraph [-conn FROM-TO] [-o graph.svg] capture.pcap
//
// Without -conn it draws the flow that carried the most data. A capture can come from the
// -pcap flag of an appliance, from its debug listener (/debug/netstack/frames.pcap, the
// ring of recent frames) or from tcpdump.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/unikit/unikit/observe"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tcpgraph:", err)
		os.Exit(1)
	}
}

// run is the command with its arguments and outputs.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tcpgraph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := fs.String("conn", "", "the flow to draw, FROM-TO (e.g. 10.0.2.15:80-10.0.2.2:40000); default the busiest")
	outPath := fs.String("o", "", "write the SVG to this file (default: standard output)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tcpgraph [-conn FROM-TO] [-o graph.svg] capture.pcap")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("one capture file, please")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	segs, err := observe.ReadSegments(f)
	if err != nil && len(segs) == 0 {
		return err
	}
	flow, ok := observe.Busiest(segs)
	if *conn != "" {
		if flow, err = observe.ParseFlow(*conn); err != nil {
			return err
		}
	} else if !ok {
		return errors.New("no TCP data in the capture")
	}
	w := stdout
	if *outPath != "" {
		o, err := os.Create(*outPath)
		if err != nil {
			return err
		}
		defer o.Close()
		w = o
	}
	st, err := observe.WriteGraph(w, segs, flow)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d segments, %d retransmitted, %d ACKs\n", flow, st.Segments, st.Retransmits, st.Acks)
	return nil
}
