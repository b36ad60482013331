package guest

import (
	"log/slog"
	"os"
	"path/filepath"
	"unsafe"
)

// watchPowerButton reads every input event device under devRoot/input and sends on pressed
// (without blocking) whenever one reports the power key pressed. With the ACPI button and
// evdev modules loaded, a hypervisor's power-button event (QEMU's system_powerdown, a cloud's
// soft stop) arrives this way. It returns the number of devices watched; their goroutines run
// for the life of the process.
func watchPowerButton(devRoot string, pressed chan<- struct{}, log *slog.Logger) int {
	paths, _ := filepath.Glob(filepath.Join(devRoot, "input", "event*"))
	longSize := int(unsafe.Sizeof(uintptr(0)))
	n := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			log.Warn("guest: cannot watch input device", "path", p, "err", err)
			continue
		}
		n++
		go func() {
			defer f.Close()
			ev := make([]byte, inputEventSize(longSize))
			for {
				// evdev returns whole events; a read of one event's size returns one.
				k, err := f.Read(ev)
				if err != nil {
					return
				}
				if isPowerPress(ev[:k], longSize) {
					select {
					case pressed <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	return n
}
