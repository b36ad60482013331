package vmimage

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// ErrNotStatic is returned when a built appliance asks for a dynamic loader, which the
// initramfs does not have.
var ErrNotStatic = errors.New("vmimage: appliance is not a static executable")

// BuildAppliance compiles the Go main package pkg (an import path, or a directory relative to
// dir such as ./examples/hello) for Linux on arch and writes the executable to out. The build
// runs go build in dir with CGO_ENABLED=0, -trimpath and -ldflags=-s -w (no symbol table or
// DWARF; a panic's stack trace keeps its function names), which gives a static executable
// that needs nothing from the initramfs; ErrNotStatic says when it did not.
func BuildAppliance(ctx context.Context, dir, pkg string, arch Arch, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+string(arch))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vmimage: go build %s for linux/%s: %w\n%s", pkg, arch, err, msg)
	}
	f, err := elf.Open(out)
	if err != nil {
		return fmt.Errorf("vmimage: reading the built appliance: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: %s wants a program interpreter", ErrNotStatic, pkg)
		}
	}
	return nil
}
