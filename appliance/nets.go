package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/unikit/unikit/netstack/link"
)

// Nets is the table of -net values beyond the two built in ("user" and "kernel"): the links a
// stack can be attached to, and the NIC drivers -net user,nic=NAME can put between the stack
// and the user-mode network. It maps flag values to the code that opens them, so that the
// stack's own packages need not import a driver. [DefaultNets] holds every driver of this
// module; an application can add its own kinds or leave some out.
type Nets struct {
	// Links are the -net NAME and NAME:ARG values, listed in this order in the usage.
	Links []LinkKind
	// NICs are the drivers of -net user,nic=NAME, listed in this order in the usage.
	NICs []NICKind
}

// LinkKind is one kind of -net value that attaches the stack to a link: NAME, or NAME:ARG
// when it takes an argument (a device name, a socket path, a PCI address).
type LinkKind struct {
	// Name is the keyword before the colon, e.g. "tap".
	Name string
	// Arg names the argument in the usage, e.g. "PATH"; empty if the value takes none.
	Arg string
	// ArgOptional says the argument may be left out (NAME alone is then valid too).
	ArgOptional bool
	// Check, if set, validates the argument when the flags are parsed, before anything is
	// opened; it is not called for an optional argument left out.
	Check func(arg string) error
	// Open opens the link for the argument (empty if left out), bounded by ctx. The stack
	// takes the link over: its Close must release everything Open acquired.
	Open func(ctx context.Context, arg string, log *slog.Logger) (link.Link, error)
}

// NICKind is a NIC driver for -net user,nic=NAME: it puts the driver, against its in-process
// device model, between the stack and the user-mode network.
type NICKind struct {
	// Name is the value after "nic=", e.g. "virtio".
	Name string
	// Attach returns the driver's link, whose device model carries the frames to backend (the
	// user-mode network's link). The returned link owns backend: its Close closes backend.
	Attach func(backend link.Link) (link.Link, error)
}

// usage returns the value of the -net keyword as the usage shows it: "tap:NAME", "xen[:vif-N]".
func (k *LinkKind) usage() string {
	switch {
	case k.Arg == "":
		return k.Name
	case k.ArgOptional:
		return k.Name + "[:" + k.Arg + "]"
	}
	return k.Name + ":" + k.Arg
}

// link returns the kind named name, or nil.
func (n *Nets) link(name string) *LinkKind {
	for i := range n.Links {
		if n.Links[i].Name == name {
			return &n.Links[i]
		}
	}
	return nil
}

// nic returns the NIC driver named name, or nil.
func (n *Nets) nic(name string) *NICKind {
	for i := range n.NICs {
		if n.NICs[i].Name == name {
			return &n.NICs[i]
		}
	}
	return nil
}

// values lists every -net value in usage order: user, its nic= variants, the links, kernel.
func (n *Nets) values() []string {
	v := []string{"user"}
	for _, d := range n.NICs {
		v = append(v, "user,nic="+d.Name)
	}
	for i := range n.Links {
		v = append(v, n.Links[i].usage())
	}
	return append(v, "kernel")
}

// valueList returns the values as an English list: "user, tap:NAME or kernel".
func (n *Nets) valueList() string {
	v := n.values()
	return strings.Join(v[:len(v)-1], ", ") + " or " + v[len(v)-1]
}

// nicList returns the nic= options as an English list, for the error of an unknown one.
func (n *Nets) nicList() string {
	var v []string
	for _, d := range n.NICs {
		v = append(v, "nic="+d.Name)
	}
	switch len(v) {
	case 0:
		return "none are registered"
	case 1:
		return v[0]
	}
	return strings.Join(v[:len(v)-1], ", ") + " or " + v[len(v)-1]
}

// check reports a table that parsing could not use unambiguously.
func (n *Nets) check() error {
	seen := map[string]bool{"user": true, "kernel": true}
	for i := range n.Links {
		k := &n.Links[i]
		if k.Name == "" || strings.ContainsAny(k.Name, ":, ") || k.Open == nil || seen[k.Name] {
			return fmt.Errorf("appliance: -net kind %q: needs a unique name without ':', ',' or spaces, and Open", k.Name)
		}
		seen[k.Name] = true
	}
	nics := map[string]bool{}
	for _, d := range n.NICs {
		if d.Name == "" || d.Attach == nil || nics[d.Name] {
			return fmt.Errorf("appliance: -net user,nic=%s: needs a unique name and Attach", d.Name)
		}
		nics[d.Name] = true
	}
	return nil
}
