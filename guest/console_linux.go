package guest

import "golang.org/x/sys/unix"

// attachConsole makes file descriptors 0, 1 and 2 the console. The kernel opens
// /dev/console for init if the initramfs has it (its built-in default initramfs does), but an
// initramfs with /dev/null and no console would leave them on /dev/null, where the Go runtime
// also points closed ones; the log and the runtime's panic messages must reach the console.
func attachConsole(console string) error {
	fd, err := unix.Open(console, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	for std := 0; std <= 2; std++ {
		if std != fd {
			if err := unix.Dup3(fd, std, 0); err != nil {
				return err
			}
		}
	}
	if fd > 2 {
		return unix.Close(fd)
	}
	return nil
}
