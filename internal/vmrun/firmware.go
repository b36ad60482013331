package vmrun

import (
	"fmt"
	"io"
	"os"

	"github.com/unikit/unikit/internal/vmimage"
)

// firmware is a UEFI firmware build for QEMU's pflash: read-only code and a template of the
// variable store, which each VM gets a writable copy of.
type firmware struct {
	code, vars string
}

// firmwareCandidates lists the firmware Debian installs, preferred first: OVMF with a 4 MiB
// variable store (ovmf), then its older 2 MiB build; AAVMF for arm64 (qemu-efi-aarch64). The
// builds without Secure Boot keys are taken: with Secure Boot on, the kernel locks down PCI
// access from user space, which the guest runtime needs.
func firmwareCandidates(arch vmimage.Arch) (pkg string, c []firmware) {
	if arch == vmimage.ARM64 {
		return "qemu-efi-aarch64", []firmware{
			{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},
		}
	}
	return "ovmf", []firmware{
		{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
		{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
	}
}

// findFirmware returns the first installed firmware for arch.
func findFirmware(arch vmimage.Arch) (*firmware, error) {
	pkg, candidates := firmwareCandidates(arch)
	for _, c := range candidates {
		_, errCode := os.Stat(c.code)
		_, errVars := os.Stat(c.vars)
		if errCode == nil && errVars == nil {
			return &c, nil
		}
	}
	return nil, fmt.Errorf("%w: UEFI firmware for %s, %s (apt-get install %s)", ErrMissing, arch, candidates[0].code, pkg)
}

// copyVars copies the variable store template src to dst, which the VM may write, and
// returns dst.
func copyVars(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}
