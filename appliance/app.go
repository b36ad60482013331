package appliance

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/unikit/unikit/guest"
)

// Defaults of -open-timeout and -shutdown-timeout.
const (
	DefaultOpenTimeout     = 30 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// Config configures an [App]. A nil *Config, and every zero field, means the default.
type Config struct {
	// Flags is where the flags are registered; default flag.CommandLine.
	Flags *flag.FlagSet
	// Nets are the -net values beyond user and kernel; default [DefaultNets].
	Nets *Nets
	// Reload, if set, is called on SIGHUP, one call at a time; an error is logged and serving
	// goes on. Without it SIGHUP keeps its default action (the process ends).
	Reload func(ctx context.Context) error
	// Out receives the line Run prints for each port once it serves; default os.Stdout.
	Out io.Writer
	// Logger receives the app's and the stack's logs; default slog.Default().
	Logger *slog.Logger
	// Opened, if set, is called once the network is open, before the ports are served: for
	// what the application needs the network for first, such as connecting to a database
	// through the stack ([Network.Dial]). An error stops Run.
	Opened func(ctx context.Context, n *Network) error
	// HostLoopback sets [Flags].HostLoopback: under -net user, the gateway address leads to
	// the host's loopback services.
	HostLoopback bool
	// OpenTimeout and ShutdownTimeout are the defaults of -open-timeout and
	// -shutdown-timeout; default DefaultOpenTimeout and DefaultShutdownTimeout.
	OpenTimeout, ShutdownTimeout time.Duration
}

// App is an appliance's skeleton: the network flags, and [App.Run], which opens the network,
// serves the application's ports, reloads on SIGHUP and shuts down gracefully on SIGINT or
// SIGTERM.
type App struct {
	flags  *Flags
	reload func(context.Context) error
	opened func(context.Context, *Network) error
	out    io.Writer
	log    *slog.Logger

	openTimeout, shutdownTimeout time.Duration
	debug                        debugFlags
	memLimit                     memoryLimit
}

// New registers the network flags of [Register] and -open-timeout and -shutdown-timeout on
// cfg.Flags, and returns the app. Call it once per flag set (a flag set refuses a flag defined
// twice), before parsing the flag set.
func New(cfg *Config) *App {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Flags == nil {
		c.Flags = flag.CommandLine
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	a := &App{flags: Register(c.Flags, c.Nets), reload: c.Reload, opened: c.Opened, out: c.Out, log: c.Logger}
	a.flags.Logger = c.Logger
	a.flags.HostLoopback = c.HostLoopback
	c.Flags.DurationVar(&a.openTimeout, "open-timeout", cmp.Or(c.OpenTimeout, DefaultOpenTimeout),
		"how long to wait for the network (DHCP)")
	c.Flags.DurationVar(&a.shutdownTimeout, "shutdown-timeout", cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout),
		"how long open requests get on shutdown")
	a.debug.register(c.Flags)
	a.memLimit = memoryLimit{auto: true}
	c.Flags.Var(&a.memLimit, "memory-limit",
		"the Go runtime's soft memory limit: a size such as 512MiB, off, or auto: GOMEMLIMIT if set, else 90% of "+
			"the memory the process may use (its cgroup's limit, or the machine's memory)")
	return a
}

// Flags returns the network flags, for [Flags.Parse] or [Flags.Open] without Run.
func (a *App) Flags() *Flags { return a.flags }

// Run sets the Go runtime's memory limit (-memory-limit), opens the network for the ports,
// serves each, and prints one line per port to Config.Out ("serving NAME on
// http://127.0.0.1:8080 (-net user)"; the first line is the first port's), and with
// -debug-listen a last line for the debug listener ("debug on http://127.0.0.1:6060/debug/"),
// which serves package observe's paths on a port of the stack of its own. Then it serves until
// ctx is done or SIGINT or SIGTERM arrives, calling
// Config.Reload on each SIGHUP, and shuts down gracefully: it closes the listeners, gives the
// requests in progress -shutdown-timeout to finish (then closes their connections), and
// closes the stack. It returns nil after such a shutdown, or the error that stopped it: the
// flags, opening the network (bounded by -open-timeout), or a server failing, in which case
// the other ports are shut down as gracefully. Parse the flag set before calling Run.
func (a *App) Run(ctx context.Context, ports ...Port) error {
	if guest.IsInit() {
		// Started by the kernel as a VM's init: become the guest runtime, which starts this
		// binary again as the appliance (with its flags from the kernel command line and
		// -net virtio-pci by default, xen in a Xen domain) and powers off when it exits.
		// Never returns.
		guest.Main(nil, nil)
	}
	spec, err := a.flags.Parse()
	if err != nil {
		return err
	}
	if err := checkPorts(ports); err != nil {
		return err
	}
	dbgAddr, err := a.debug.addr()
	if err != nil {
		return err
	}
	a.flags.debug = dbgAddr
	a.log.Info("appliance: Go memory limit", "limit", a.memLimit.apply())
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP is caught before the ports are announced: whoever reads the announcement may
	// reload at once.
	var hup chan os.Signal
	if a.reload != nil {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}

	openCtx, cancel := context.WithTimeout(ctx, a.openTimeout)
	n, err := a.flags.Open(openCtx, numbers(ports)...)
	cancel()
	if err != nil {
		return err
	}
	defer n.Close()
	if a.opened != nil {
		if err := a.opened(ctx, n); err != nil {
			return err
		}
	}
	if dbgAddr != nil {
		dbg, err := serveDebug(n, ports, &a.debug, a.log)
		if err != nil {
			return err
		}
		defer dbg.Close()
	}
	s, err := n.Serve(ports...)
	if err != nil {
		return err
	}
	for _, p := range ports {
		name := ""
		if p.Name != "" {
			name = " " + p.Name
		}
		fmt.Fprintf(a.out, "serving%s on %s://%s (-net %s)\n", name, p.scheme(), n.Addr(p.Number), spec.Mode())
	}
	if dbgAddr != nil {
		fmt.Fprintf(a.out, "debug on http://%s/debug/\n", n.Addr(dbgAddr.Port))
	}

	rctx, stopReclaim := context.WithCancel(ctx)
	defer stopReclaim()
	go newReclaimer(n).run(rctx)

	var failed error
wait:
	for {
		select {
		case failed = <-s.Failed():
			break wait
		case <-hup:
			if err := a.reload(ctx); err != nil {
				a.log.Error("appliance: reload failed", "err", err)
			}
		case <-ctx.Done():
			break wait
		}
	}
	stop() // a second signal ends the process the usual way
	a.log.Info("appliance: shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), a.shutdownTimeout)
	defer cancel()
	if err := s.Shutdown(shutCtx); err != nil {
		a.log.Warn("appliance: requests still open after -shutdown-timeout were cut off", "err", err)
	}
	return errors.Join(failed, n.Close())
}
