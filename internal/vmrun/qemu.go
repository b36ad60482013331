package vmrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/unikit/unikit/internal/vmimage"
)

// Defaults of Config.
const (
	DefaultListen = "127.0.0.1:8080"
	DefaultMemory = "512M"
)

// GuestPort is the TCP port of the guest that Config.Listen forwards to.
const GuestPort = 80

// GuestAddr is the address the guest takes on QEMU's user-mode network: the first one its DHCP
// server leases, and the one its port forwards go to when they name none.
const GuestAddr = "10.0.2.15"

// Accelerators for Config.Accel.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// ErrConfig is returned for a Config that QEMU cannot be started with.
var ErrConfig = errors.New("vmrun: bad configuration")

// ErrMissing is returned when QEMU or the firmware it needs is not installed.
var ErrMissing = errors.New("vmrun: not installed")

// Config says how to boot an image. The zero value boots it directly, with the defaults.
type Config struct {
	// Listen is the host address (HOST:PORT) forwarded to GuestPort of the guest; empty means
	// DefaultListen.
	Listen string
	// Accel is AccelKVM or AccelTCG; empty means KVM when KVMUsable, TCG otherwise.
	Accel string
	// Memory is the guest's memory in QEMU's -m syntax (512M, 1G); empty means DefaultMemory.
	Memory string
	// UEFI boots disk.img through UEFI firmware instead of the kernel directly.
	UEFI bool
	// Console receives the guest's serial console; nil discards it.
	Console io.Writer
	// Stderr receives QEMU's own messages; nil discards them.
	Stderr io.Writer
	// Stdin feeds the serial console (and QEMU's monitor: Ctrl-A x quits); nil is empty.
	Stdin io.Reader
	// TAP, if set, attaches the NIC to this Linux TAP device instead of the user-mode network
	// (QEMU's -netdev tap, without scripts; Listen is then not used). QEMU opens the device in
	// its own network namespace: the one of the thread that calls Start. A TAP peer passes the
	// virtio_net_hdr through, so the device offers checksum and segmentation offloads, which
	// the user-mode network never does.
	TAP string
	// TAPQueues is the number of queue pairs of the TAP device with TAP (QEMU's queues=);
	// zero means 1. More than one needs a device made with multi_queue and the NIC property
	// mq=on.
	TAPQueues int
	// NICProperties are appended to the virtio-net-pci device's properties, such as
	// "packed=on", "mrg_rxbuf=off" or "host_tso4=off".
	NICProperties []string
	// QEMUArgs are appended to QEMU's command line.
	QEMUArgs []string
}

// VM is a QEMU process booting an image.
type VM struct {
	// Cmd is the QEMU process, started.
	Cmd *exec.Cmd
	// Accel is the accelerator it runs with.
	Accel string
	// scratch holds the firmware's variable store, removed by Wait.
	scratch string
}

// Start starts QEMU booting the image im as cfg says. Cancelling ctx stops QEMU (SIGTERM,
// then SIGKILL after five seconds). The caller must call Wait.
func Start(ctx context.Context, im vmimage.Image, cfg Config) (*VM, error) {
	accel, err := accelFor(im.Arch, cfg.Accel)
	if err != nil {
		return nil, err
	}
	vm := &VM{Accel: accel}
	var fw *firmware
	if cfg.UEFI {
		if fw, err = findFirmware(im.Arch); err != nil {
			return nil, err
		}
		if vm.scratch, err = os.MkdirTemp("", "unikit-run-"); err != nil {
			return nil, err
		}
		fw.vars, err = copyVars(fw.vars, filepath.Join(vm.scratch, "vars.fd"))
		if err != nil {
			os.RemoveAll(vm.scratch)
			return nil, err
		}
	}
	args, err := qemuArgs(im, cfg, accel, fw)
	if err != nil {
		os.RemoveAll(vm.scratch)
		return nil, err
	}
	bin := qemuBinary(im.Arch)
	path, err := exec.LookPath(bin)
	if err != nil {
		os.RemoveAll(vm.scratch)
		return nil, fmt.Errorf("%w: %s (apt-get install %s)", ErrMissing, bin, qemuPackage(im.Arch))
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cfg.Stdin, cfg.Console, cfg.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		os.RemoveAll(vm.scratch)
		return nil, err
	}
	vm.Cmd = cmd
	return vm, nil
}

// Wait waits for QEMU to exit and removes its scratch files. QEMU exits with status 0 when the
// guest powers off or, with -no-reboot, reboots (which panic=-1 turns a panic into); Wait
// returns an error for any other status.
func (vm *VM) Wait() error {
	defer os.RemoveAll(vm.scratch)
	if err := vm.Cmd.Wait(); err != nil {
		return fmt.Errorf("vmrun: %s: %w", filepath.Base(vm.Cmd.Path), err)
	}
	return nil
}

// Run boots the image im as cfg says and waits until the guest powers off, or until ctx is
// cancelled.
func Run(ctx context.Context, im vmimage.Image, cfg Config) error {
	vm, err := Start(ctx, im, cfg)
	if err != nil {
		return err
	}
	return vm.Wait()
}

// accelFor chooses the accelerator: the one asked for, or KVM when usable and TCG otherwise.
func accelFor(arch vmimage.Arch, asked string) (string, error) {
	switch asked {
	case "":
		if KVMUsable(arch) {
			return AccelKVM, nil
		}
		return AccelTCG, nil
	case AccelKVM, AccelTCG:
		return asked, nil
	}
	return "", fmt.Errorf("%w: accelerator %q (want %s or %s)", ErrConfig, asked, AccelKVM, AccelTCG)
}

// qemuBinary is the QEMU system emulator for the guest architecture.
func qemuBinary(arch vmimage.Arch) string {
	if arch == vmimage.ARM64 {
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

// qemuPackage is the Debian package of qemuBinary.
func qemuPackage(arch vmimage.Arch) string {
	if arch == vmimage.ARM64 {
		return "qemu-system-arm"
	}
	return "qemu-system-x86"
}

// qemuArgs returns QEMU's arguments for booting im with accel, through the firmware fw when it
// is not nil.
func qemuArgs(im vmimage.Image, cfg Config, accel string, fw *firmware) ([]string, error) {
	netdev, err := netdevArg(cfg)
	if err != nil {
		return nil, err
	}
	mem := cfg.Memory
	if mem == "" {
		mem = DefaultMemory
	}
	var args []string
	switch im.Arch {
	case vmimage.AMD64:
		args = append(args, "-M", "pc")
		if accel == AccelKVM {
			args = append(args, "-cpu", "host")
		}
	case vmimage.ARM64:
		// virt adds a NIC of its own unless told -net none.
		if accel == AccelKVM {
			args = append(args, "-M", "virt,gic-version=host", "-cpu", "host")
		} else {
			args = append(args, "-M", "virt", "-cpu", "cortex-a57")
		}
		args = append(args, "-net", "none")
	default:
		return nil, fmt.Errorf("%w: architecture %q", ErrConfig, im.Arch)
	}
	args = append(args,
		"-accel", accel,
		"-m", mem,
		"-nographic",
		"-no-reboot",
		"-netdev", netdev,
		// romfile= leaves out the NIC's option ROM: it only network-boots, which nothing here
		// wants, and arm64 installs none.
		"-device", strings.Join(append([]string{"virtio-net-pci,netdev=net0,romfile="}, cfg.NICProperties...), ","),
	)
	if fw != nil {
		args = append(args,
			"-drive", "if=pflash,format=raw,readonly=on,file="+fw.code,
			"-drive", "if=pflash,format=raw,file="+fw.vars,
			"-drive", "if=virtio,format=raw,readonly=on,file="+im.Disk,
		)
	} else {
		args = append(args, "-kernel", im.Kernel, "-initrd", im.Initrd, "-append", im.Cmdline)
	}
	return append(args, cfg.QEMUArgs...), nil
}

// netdevArg returns the -netdev value of the NIC's backend: the user-mode network with the
// port forward, or cfg.TAP.
func netdevArg(cfg Config) (string, error) {
	if cfg.TAP == "" {
		if cfg.TAPQueues != 0 {
			return "", fmt.Errorf("%w: TAP queues without a TAP device", ErrConfig)
		}
		fwd, err := hostForward(cfg.Listen)
		if err != nil {
			return "", err
		}
		return "user,id=net0,hostfwd=" + fwd, nil
	}
	if strings.ContainsAny(cfg.TAP, ",= ") || len(cfg.TAP) > 15 {
		return "", fmt.Errorf("%w: TAP device name %q", ErrConfig, cfg.TAP)
	}
	netdev := "tap,id=net0,ifname=" + cfg.TAP + ",script=no,downscript=no"
	switch q := cfg.TAPQueues; {
	case q < 0 || q > 256:
		return "", fmt.Errorf("%w: %d TAP queues", ErrConfig, q)
	case q > 1:
		netdev += ",queues=" + strconv.Itoa(q)
	}
	return netdev, nil
}

// hostForward returns the hostfwd rule that forwards listen (HOST:PORT, empty for
// DefaultListen) to GuestPort of the guest.
func hostForward(listen string) (string, error) {
	if listen == "" {
		listen = DefaultListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%w: listen address %q: %v", ErrConfig, listen, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", fmt.Errorf("%w: listen address %q: bad port", ErrConfig, listen)
	}
	if host != "" && net.ParseIP(host).To4() == nil {
		return "", fmt.Errorf("%w: listen address %q: QEMU's user-mode network forwards from IPv4 addresses", ErrConfig, listen)
	}
	return fmt.Sprintf("tcp:%s:%s-:%d", host, port, GuestPort), nil
}
