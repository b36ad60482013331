package kmod

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Load loads the named modules and their dependencies in dependency order ([Index.Order])
// with finit_module(2). A module the kernel already has (EEXIST) counts as loaded, so Load
// may be called again for modules that share dependencies. Loading needs CAP_SYS_MODULE.
func (ix *Index) Load(names ...string) error {
	order, err := ix.Order(names...)
	if err != nil {
		return err
	}
	for _, m := range order {
		if err := loadFile(m.Path); err != nil {
			return fmt.Errorf("kmod: loading %s from %s: %w", m.Name, m.Path, err)
		}
	}
	return nil
}

// loadFile hands one module file to the kernel.
func loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
