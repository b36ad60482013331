// Package guest is the runtime of an appliance that boots as a virtual machine: Linux is the
// boot loader and PCI mapper, and the appliance binary is /init in the initramfs, as gokrazy
// runs Go as PID 1.
//
// An appliance's main function is one call:
//
//	func main() {
//		guest.Main(nil, func(ctx context.Context, args []string) error {
//			fs := flag.NewFlagSet("blog", flag.ContinueOnError)
//			...
//			return fs.Parse(args) // then serve until ctx is done
//		})
//	}
//
// The same binary runs hosted, where Main just runs the function with the process's arguments
// and a context cancelled by SIGINT or SIGTERM; and as a VM's init, where Main is the init and
// runs the function in a child process. Inside the VM:
//
//  1. The init mounts proc, sysfs, devtmpfs (already mounted is fine) and hugetlbfs with 2 MiB
//     pages at /dev/hugepages, and makes sure standard input, output and error are the console.
//  2. It turns Ctrl-Alt-Del into SIGINT, and loads kernel modules ([Config.Modules], by
//     default those of the power button, [DefaultModules]) from /lib/modules in the
//     initramfs, dependencies first (package kmod). The image should also hold the kernel's
//     modules.builtin, so that modules built in are known as such. In a Xen domain
//     (/sys/hypervisor/type says "xen") it also loads [XenModules], mounts xenfs on
//     /proc/xen and raises xen-gntalloc's grant limit to [XenGrantLimit].
//  3. It reads the appliance's arguments from the kernel command line ([CmdlineArgs]; the image
//     builder writes them with [EncodeArgs]).
//  4. It starts the same binary again as the appliance, with those arguments and
//     UNIKIT_GUEST=1 in its environment ([InGuest]), and UNIKIT_HYPERVISOR=xen in a Xen domain
//     ([InXen]), and logs to the console with log/slog.
//  5. It reaps every process that exits. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPWR, SIGUSR2 and the
//     power button (KEY_POWER on /dev/input/event*: a hypervisor's or cloud's "stop") make it
//     send SIGTERM to the appliance, whose context is then cancelled, and SIGKILL after
//     [Config.ShutdownTimeout].
//  6. When the appliance exits, for whatever reason, the init syncs and powers the machine off
//     with reboot(2). A panic, in any goroutine of the appliance, is printed on the console by
//     the Go runtime before the process exits; a panic of the init itself is logged before
//     power-off.
//
// Running the appliance as a child rather than in the init process itself is what makes the
// last point hold: a process 1 that exits or dies makes the kernel panic instead of powering
// off, and a panic in a goroutine cannot be recovered. The cost is a second small process.
// As process 1 of a container, where /proc is already mounted when it starts, Main behaves as
// hosted.
package guest
