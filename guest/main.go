package guest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/unikit/unikit/guest/kmod"
)

// EnvGuest is the environment variable the init sets, to "1", for the appliance it starts.
const EnvGuest = "UNIKIT_GUEST"

// Defaults of [Config].
const (
	// DefaultShutdownTimeout is how long the appliance has to return once asked to stop.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultModuleDir is where the initramfs keeps kernel modules: kmod's, one place
	// for the image builder and every guest package.
	DefaultModuleDir = kmod.DefaultDir
)

// DefaultModules are the kernel modules the init loads when Config.Modules is nil: the power
// button's driver and the event interface it is read through. That is the ACPI button on x86;
// on arm64 also gpio_keys, through which QEMU's "virt" machine, which boots without ACPI,
// presents its power button (Debian builds button into its arm64 kernel; modules.builtin
// says so).
func DefaultModules() []string {
	if runtime.GOARCH == "arm64" {
		return []string{"button", "gpio_keys", "evdev"}
	}
	return []string{"button", "evdev"}
}

// Config configures [Main]. The zero value, like a nil *Config, loads [DefaultModules] from
// [DefaultModuleDir] and gives the appliance [DefaultShutdownTimeout] to stop.
type Config struct {
	// Modules are loaded by the init, with their dependencies, before the appliance starts;
	// nil means DefaultModules, an empty non-nil slice none. A module that fails to load is
	// logged and does not stop the boot.
	Modules []string
	// ModuleDir is where modules are found; empty means DefaultModuleDir.
	ModuleDir string
	// ShutdownTimeout is how long the appliance gets to return after its context is
	// cancelled before the init kills it; zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.Modules == nil {
		d.Modules = DefaultModules()
	}
	if d.ModuleDir == "" {
		d.ModuleDir = DefaultModuleDir
	}
	if d.ShutdownTimeout <= 0 {
		d.ShutdownTimeout = DefaultShutdownTimeout
	}
	return d
}

// App is an appliance: it runs until ctx is done or it fails, with its command-line
// arguments (without the program name).
type App func(ctx context.Context, args []string) error

// Main runs app and exits; it does not return.
//
// Started by the kernel as process 1 (Linux, /proc not yet mounted), Main is the VM's init
// described in the package documentation and powers the machine off when the appliance
// exits. Otherwise (hosted, or the appliance process the init started) it calls app with
// os.Args[1:] and a context cancelled by the first SIGINT or SIGTERM (a second one kills the
// process), and exits with status 0 if app returns nil, 2 for flag.ErrHelp and 1, after
// printing the error, for any other error.
func Main(cfg *Config, app App) {
	if isKernelInit() {
		runInit(cfg.withDefaults()) // never returns
	}
	os.Exit(runApp(app, os.Args[1:]))
}

// runApp runs app with a context cancelled by SIGINT or SIGTERM and returns the exit status.
func runApp(app App, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // from now on the signals' default action: a second one kills
	}()
	err := app(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
	return 1
}

// IsInit reports whether this process is a VM's init, started by the kernel as process 1
// before anything mounted /proc: the case in which [Main] becomes the init and never calls
// its App. A library that runs appliances (package appliance) calls Main only then, so that
// an unchanged main function boots as a VM.
func IsInit() bool { return isKernelInit() }

// InGuest reports whether this process is an appliance started by Main as a VM's init, for
// choices that differ inside a VM, such as the default network.
func InGuest() bool { return os.Getenv(EnvGuest) == "1" }
