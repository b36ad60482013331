package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/unikit/unikit/internal/vmimage"
	"github.com/unikit/unikit/internal/vmrun"
)

// runHelp heads the help of unikit run.
const runHelp = `Usage: unikit run [-listen HOST:PORT] [-accel kvm|tcg] [-m MEM] [-uefi] DIR

Boots the image directory DIR that unikit image wrote under QEMU (qemu-system-x86_64, or
qemu-system-aarch64 -M virt for arm64), with KVM when /dev/kvm can run the guest and TCG
otherwise. The guest's NIC is a virtio-net-pci device on QEMU's user-mode network, where it
leases %s; HOST:PORT on the host is forwarded to its port %d. The guest's serial
console is printed here, and typing goes to it; Ctrl-A x quits QEMU. unikit run returns when
the guest powers off.

Without -uefi the kernel boots directly (-kernel, -initrd, -append). With -uefi, UEFI firmware
boots DIR/disk.img as a KVM cloud would: OVMF (package ovmf) on amd64, AAVMF
(qemu-efi-aarch64) on arm64.

Flags:
`

// runCommand runs unikit run.
func runCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("unikit run", flag.ContinueOnError)
	listen := fs.String("listen", vmrun.DefaultListen, "host address `HOST:PORT` forwarded to port 80 of the guest")
	accel := fs.String("accel", "", "`ACCEL`erator, kvm or tcg (default kvm when usable, tcg otherwise)")
	mem := fs.String("m", vmrun.DefaultMemory, "guest memory `MEM`, in QEMU's -m syntax")
	uefi := fs.Bool("uefi", false, "boot disk.img through UEFI firmware instead of the kernel directly")
	verbose := fs.Bool("v", false, "print QEMU's command line")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), runHelp, vmrun.GuestAddr, vmrun.GuestPort)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "unikit run: want one image directory")
		fs.Usage()
		return errUsage
	}
	im, err := vmimage.OpenImage(fs.Arg(0))
	if err != nil {
		return err
	}
	vm, err := vmrun.Start(ctx, im, vmrun.Config{
		Listen:  *listen,
		Accel:   *accel,
		Memory:  *mem,
		UEFI:    *uefi,
		Console: stdout,
		Stderr:  stderr,
		Stdin:   stdin,
	})
	if err != nil {
		return err
	}
	boot := "kernel directly"
	if *uefi {
		boot = "UEFI from disk.img"
	}
	fmt.Fprintf(stderr, "unikit: booting %s (%s, %s, %s); http://%s reaches the guest's port %d; Ctrl-A x quits\n",
		im.Dir, im.Arch, vm.Accel, boot, *listen, vmrun.GuestPort)
	if *verbose {
		fmt.Fprintln(stderr, "unikit:", strings.Join(vm.Cmd.Args, " "))
	}
	if err := vm.Wait(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: QEMU stopped")
		}
		return err
	}
	return nil
}
