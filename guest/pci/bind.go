package pci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoDriver is returned by [Bind] when the driver is not registered (its module is not
// loaded) or did not take the function.
var ErrNoDriver = errors.New("pci: driver did not bind")

// Bind binds function a under sysRoot to driver, the way the kernel documents for drivers
// without an ID table such as uio_pci_generic: a driver already bound to the function is
// unbound, driver_override names the new driver, and drivers_probe asks the kernel to probe
// the function. It returns nil at once if driver already holds the function, and an error
// wrapping [ErrNoDriver] if the driver is not registered or did not bind (uio_pci_generic
// refuses functions that cannot mask INTx; the kernel log says why).
func Bind(sysRoot string, a Addr, driver string) error {
	if driver == "" || strings.ContainsAny(driver, "/\n") || driver == "." || driver == ".." {
		return fmt.Errorf("pci: driver name %q", driver)
	}
	dir := functionDir(sysRoot, a)
	cur, err := driverOf(dir)
	if err != nil {
		return err
	}
	if cur == driver {
		return nil
	}
	if _, err := os.Stat(filepath.Join(sysRoot, "bus/pci/drivers", driver)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is not registered (module not loaded?)", ErrNoDriver, driver)
	}
	if cur != "" {
		if err := writeAttr(filepath.Join(dir, "driver/unbind"), a.String()); err != nil {
			return fmt.Errorf("pci: unbinding %s from %s: %w", a, cur, err)
		}
	}
	if err := writeAttr(filepath.Join(dir, "driver_override"), driver); err != nil {
		return fmt.Errorf("pci: %s: %w", a, err)
	}
	if err := writeAttr(filepath.Join(sysRoot, "bus/pci/drivers_probe"), a.String()); err != nil {
		return fmt.Errorf("pci: probing %s: %w", a, err)
	}
	if cur, err = driverOf(dir); err != nil {
		return err
	}
	if cur != driver {
		return fmt.Errorf("%w: %s is bound to %q after probing, not %s (see the kernel log)",
			ErrNoDriver, a, cur, driver)
	}
	return nil
}

// writeAttr writes s to a sysfs attribute in one write, as the kernel expects.
func writeAttr(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(s))
	return errors.Join(err, f.Close())
}
