package vmimage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Arch is a guest architecture, named as GOARCH names it.
type Arch string

// The architectures an image can be built for.
const (
	AMD64 Arch = "amd64"
	ARM64 Arch = "arm64"
)

// ErrUnknownArch is returned for an architecture other than amd64 and arm64, and by KernelArch
// for a file that is neither an x86 bzImage nor an arm64 Image.
var ErrUnknownArch = errors.New("vmimage: unknown architecture")

// ParseArch returns the Arch named s ("amd64" or "arm64").
func ParseArch(s string) (Arch, error) {
	switch a := Arch(s); a {
	case AMD64, ARM64:
		return a, nil
	}
	return "", fmt.Errorf("%w %q (want amd64 or arm64)", ErrUnknownArch, s)
}

// Console is the serial console device of the architecture's QEMU machine: the 8250 UART of
// the x86 pc machine, the PL011 of arm64 virt. Both drivers are built into Debian's kernels.
func (a Arch) Console() string {
	if a == ARM64 {
		return "ttyAMA0"
	}
	return "ttyS0"
}

// EFIBootFile is the path UEFI firmware boots from a removable disk with no boot entries
// (UEFI 2.10 section 3.5.1.1).
func (a Arch) EFIBootFile() string {
	if a == ARM64 {
		return "/EFI/BOOT/BOOTAA64.EFI"
	}
	return "/EFI/BOOT/BOOTX64.EFI"
}

// debianKernelPackage is the metapackage whose one dependency is the current kernel package,
// with the architecture qualifier apt needs for a foreign architecture.
func (a Arch) debianKernelPackage() string {
	return "linux-image-" + string(a) + ":" + string(a)
}

// efiStubName is systemd-stub's file name for the architecture, in systemd-boot-efi.
func (a Arch) efiStubName() string {
	if a == ARM64 {
		return "linuxaa64.efi.stub"
	}
	return "linuxx64.efi.stub"
}

// KernelArch reads the boot header of a kernel image file and says which architecture it
// boots: an x86 bzImage carries "HdrS" at offset 0x202 (Documentation/arch/x86/boot.rst), an
// arm64 Image carries "ARM\x64" at offset 0x38 (Documentation/arch/arm64/booting.rst).
func KernelArch(path string) (Arch, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var hdr [0x206]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return "", fmt.Errorf("%w: %s: too short for a kernel image", ErrUnknownArch, path)
	}
	switch {
	case bytes.Equal(hdr[0x202:0x206], []byte("HdrS")):
		return AMD64, nil
	case bytes.Equal(hdr[0x38:0x3c], []byte("ARM\x64")):
		return ARM64, nil
	}
	return "", fmt.Errorf("%w: %s is neither an x86 bzImage nor an arm64 Image", ErrUnknownArch, path)
}
