package guest

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unikit/unikit/guest/kmod"
)

// isKernelInit reports whether the kernel started this process as init: process 1 with no
// /proc mounted yet. Process 1 of a container finds /proc mounted.
func isKernelInit() bool {
	if os.Getpid() != 1 {
		return false
	}
	_, err := os.Stat("/proc/self/exe")
	return errors.Is(err, fs.ErrNotExist)
}

// stopSignals are the signals that make the init stop the appliance and power off. Every
// one of them must be caught: as process 1 a Go program that does not handle SIGTERM, SIGINT
// or SIGHUP exits on it (the runtime re-raises the signal, the kernel ignores it for init,
// and the runtime then exits), which panics the kernel.
func stopSignals() []os.Signal {
	return []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGPWR, unix.SIGUSR2}
}

// runInit is process 1: it prepares the machine, runs the appliance as its child and powers
// off when the child exits. It never returns.
func runInit(c Config) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	defer func() {
		if r := recover(); r != nil {
			log.Error("guest: init panicked", "panic", r, "stack", string(debug.Stack()))
			powerOff(log)
		}
	}()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, stopSignals()...)
	exited := make(chan os.Signal, 1)
	signal.Notify(exited, unix.SIGCHLD)

	if err := mountAll(log.Warn); err != nil {
		log.Error("guest: "+err.Error(), "err", err)
		powerOff(log)
	}
	if err := attachConsole("/dev/console"); err != nil {
		log.Warn("guest: cannot open /dev/console", "err", err)
	}
	if err := trapCtrlAltDel(); err != nil {
		log.Warn("guest: cannot trap Ctrl-Alt-Del", "err", err)
	}
	// A Xen domain also gets the devices of -net xen, xenfs on /proc/xen (where xenstore
	// tools and libraries look for it) and room for netfront's grants; the appliance learns the hypervisor from its
	// environment (InXen), to make -net xen its default.
	hv := hypervisorType(hypervisorTypeFile)
	if hv == HypervisorXen {
		c.Modules = append(slices.Clip(c.Modules), XenModules()...)
	}
	loadModules(c, log)
	if hv == HypervisorXen {
		if err := mountXenfs(); err != nil {
			log.Warn("guest: "+err.Error(), "err", err)
		}
		if err := raiseGrantLimit(gntallocLimitFile); err != nil {
			log.Warn("guest: cannot raise xen-gntalloc's grant limit", "err", err)
		}
	}
	pressed := make(chan struct{}, 1)
	buttons := watchPowerButton("/dev", pressed, log)

	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		log.Error("guest: reading the kernel command line", "err", err)
		powerOff(log)
	}
	args, err := CmdlineArgs(string(cmdline))
	if err != nil {
		log.Error("guest: "+err.Error(), "cmdline", strings.TrimSpace(string(cmdline)))
		powerOff(log)
	}
	env := append(os.Environ(), EnvGuest+"=1")
	if hv != "" {
		env = append(env, EnvHypervisor+"="+hv)
	}
	app, err := os.StartProcess("/proc/self/exe", append([]string{os.Args[0]}, args...), &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		log.Error("guest: starting the appliance", "err", err)
		powerOff(log)
	}
	log.Info("guest: appliance started", "pid", app.Pid, "args", args, "uptime", uptime(),
		"power_button_devices", buttons, "hypervisor", hv)
	supervise(c, log, app, sigs, exited, pressed)
	// Whatever the appliance left running goes too (kill(-1) spares process 1).
	unix.Kill(-1, unix.SIGKILL)
	reap(-1)
	powerOff(log)
}

// loadModules loads the configured modules, each on its own so that one missing module does
// not keep the others out.
func loadModules(c Config, log *slog.Logger) {
	if len(c.Modules) == 0 {
		return
	}
	ix, err := kmod.Scan(c.ModuleDir)
	if err != nil {
		log.Warn("guest: no kernel modules", "dir", c.ModuleDir, "err", err)
		return
	}
	for _, m := range c.Modules {
		if err := ix.Load(m); err != nil {
			log.Warn("guest: kernel module not loaded", "module", m, "err", err)
		}
	}
}

// supervise waits for the appliance to exit, reaping every child, and asks it to stop (SIGTERM,
// then SIGKILL after the timeout) on a stop signal or the power button.
func supervise(c Config, log *slog.Logger, app *os.Process, sigs, exited <-chan os.Signal, pressed <-chan struct{}) {
	var kill <-chan time.Time
	stop := func(reason string) {
		if kill != nil {
			return
		}
		log.Info("guest: stopping the appliance", "reason", reason, "timeout", c.ShutdownTimeout)
		app.Signal(unix.SIGTERM)
		kill = time.After(c.ShutdownTimeout)
	}
	for {
		select {
		case s := <-sigs:
			stop(s.String())
		case <-pressed:
			stop("power button")
		case <-kill:
			log.Warn("guest: the appliance did not stop in time; killing it")
			app.Signal(unix.SIGKILL)
		case <-exited:
			if ws, ok := reap(app.Pid); ok {
				logExit(log, ws)
				app.Release()
				return
			}
		}
	}
}

// reap collects every exited child without blocking, and returns the status of pid if it was
// among them.
func reap(pid int) (unix.WaitStatus, bool) {
	var found unix.WaitStatus
	ok := false
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || p <= 0 {
			return found, ok
		}
		if p == pid {
			found, ok = ws, true
		}
	}
}

// logExit logs how the appliance ended.
func logExit(log *slog.Logger, ws unix.WaitStatus) {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		log.Info("guest: the appliance exited; powering off")
	case ws.Exited():
		log.Error("guest: the appliance failed; powering off", "status", ws.ExitStatus())
	case ws.Signaled():
		log.Error("guest: the appliance was killed; powering off", "signal", ws.Signal().String())
	default:
		log.Error("guest: the appliance ended; powering off", "wait_status", int(ws))
	}
}

// uptime returns the kernel's uptime from /proc/uptime, to show how long the boot took.
func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "?"
	}
	s, _, _ := strings.Cut(string(b), " ")
	return s + "s"
}
