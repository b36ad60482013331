//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/unikit/unikit/guest"
	"github.com/unikit/unikit/guest/kmod"
	"github.com/unikit/unikit/xenfront/linuxdom"
)

// serveKernel hands vif 0 to Linux's xen-netfront and serves h on the kernel's sockets at
// addr until quit is closed or ctx is done.
func serveKernel(ctx context.Context, h http.Handler, addr string, quit <-chan struct{}, log *slog.Logger) error {
	dom, err := linuxdom.Open()
	if err != nil {
		return err
	}
	err = resetVif(ctx, dom.Store)
	dom.Close()
	if err != nil {
		return err
	}
	// xen-netfront's module init waits for the back end, so it is loaded beside the rest.
	loaded := make(chan error, 1)
	go func() { loaded <- kmod.LoadFrom(guest.DefaultModuleDir, "xen-netfront") }()
	eth, err := waitLink(ctx, "eth0", loaded)
	if err != nil {
		return err
	}
	prefix, err := netlink.ParseAddr(addr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(eth, prefix); err != nil {
		return fmt.Errorf("adding %s to eth0: %w", addr, err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", servicePort))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	report("serving on Linux's xen-netfront at %s", addr)
	select {
	case <-quit:
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// waitLink waits up to 60 s for the network interface name to appear, or for the module load
// to fail.
func waitLink(ctx context.Context, name string, loaded <-chan error) (netlink.Link, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := netlink.LinkByName(name)
		if err == nil {
			return l, nil
		}
		select {
		case err := <-loaded:
			if err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("loading xen-netfront: %w", err)
			}
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("no %s 60 s after loading xen-netfront", name)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
