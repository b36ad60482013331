//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/unikit/unikit/xenfront/linuxdom"
	"github.com/unikit/unikit/xenfront/netfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// vifDir is the domU's first network device in xenstore, relative to the domain's home.
const vifDir = "device/vif/0"

// probeOnce connects netfront to vif 0 asking for queues queue pairs, reports what the
// frontend wrote to xenstore, closes the link and puts the vif back to where a front end can
// connect again.
func probeOnce(ctx context.Context, queues int, log *slog.Logger, wd *watchdog) error {
	wd.enter(fmt.Sprintf("probe queues=%d: open", queues))
	dom, err := linuxdom.Open()
	if err != nil {
		return err
	}
	defer dom.Close()
	octx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	start := time.Now()
	l, err := netfront.Open(octx, &netfront.Config{
		Grants: dom.Grants, Events: dom.Events, Store: dom.Store, Dir: vifDir, Queues: queues, Logger: log,
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	wd.enter(fmt.Sprintf("probe queues=%d: read xenstore", queues))
	num := readOr(dom.Store, vifDir+"/multi-queue-num-queues", "absent")
	q1 := readOr(dom.Store, vifDir+"/queue-1/tx-ring-ref", "absent")
	be := readOr(dom.Store, vifDir+"/backend", "")
	max := readOr(dom.Store, be+"/multi-queue-max-queues", "absent")
	report("probe queues=%d connected seconds=%.2f num-queues=%s queue-1-tx-ring-ref=%s backend-max-queues=%s mtu=%d mac=%s",
		queues, took.Seconds(), num, q1, max, l.MTU(), l.MAC())
	wd.enter(fmt.Sprintf("probe queues=%d: close", queues))
	if err := l.Close(); err != nil {
		return fmt.Errorf("closing: %w", err)
	}
	wd.enter(fmt.Sprintf("probe queues=%d: reset", queues))
	if err := resetVif(ctx, dom.Store); err != nil {
		return err
	}
	wd.enter(fmt.Sprintf("probe queues=%d: closing the devices", queues))
	report("probe queues=%d closed", queues)
	return nil
}

// resetVif writes Initialising to the closed front end's state, to which netback answers by
// going back to InitWait, and waits for that: the way back for a front end, ours or Linux's,
// after one closed (Linux's xen-netfront never writes a state it believes is already there).
func resetVif(ctx context.Context, st xenstore.Store) error {
	if err := st.Write(0, vifDir+"/state", "1"); err != nil {
		return err
	}
	be, err := st.Read(0, vifDir+"/backend")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, _ := st.Read(0, be+"/state")
		if s == "2" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("back end %s stayed in state %q after the front end's reset", be, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readOr returns the value at path, or def when it cannot be read.
func readOr(st xenstore.Store, path, def string) string {
	v, err := st.Read(0, path)
	if err != nil {
		return def
	}
	return v
}
