// Command unikit builds a Go appliance into a bootable virtual machine and boots it under QEMU.
//
//	unikit image [-arch amd64|arm64] [-kernel FILE [-modules DIR]] [-o DIR] PKG [-- appliance flags]
//	unikit run [-listen HOST:PORT] [-accel kvm|tcg] [-m MEM] [-uefi] DIR
//
// unikit image compiles the Go main package PKG as a static Linux binary for the architecture
// and writes an image directory: the kernel (vmlinuz), an initramfs holding the appliance as
// /init and the kernel modules it loads (initrd.img; no shell, no libc), the kernel command line
// (cmdline) and a raw GPT disk that UEFI firmware boots on its own (disk.img), which a KVM cloud
// can import. Without -kernel it uses Debian's kernel package for the architecture, downloaded
// with apt-get download and cached.
//
// unikit run boots an image directory under QEMU with its user-mode network, forwards
// HOST:PORT on the host to port 80 of the guest and prints the guest's console. It returns when
// the guest powers off.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// usage is the top-level help.
const usage = `unikit builds a Go appliance into a bootable virtual machine and boots it under QEMU.

Usage:
  unikit image [-arch amd64|arm64] [-kernel FILE [-modules DIR]] [-o DIR] PKG [-- appliance flags]
  unikit run [-listen HOST:PORT] [-accel kvm|tcg] [-m MEM] [-uefi] DIR

Run "unikit image -h" or "unikit run -h" for each command's flags.
`

// errUsage marks an error in the command line; its message has been printed with the usage.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "unikit:", err)
		os.Exit(1)
	}
}

// run runs the subcommand that args name.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "image":
		return imageCommand(ctx, args[1:], stderr)
	case "run":
		return runCommand(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unikit: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

// parseFlags parses a subcommand's flags, printing errors and help to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
