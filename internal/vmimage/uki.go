package vmimage

import (
	"bytes"
	"context"
	"debug/pe"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoEFIStub is returned when systemd-stub for the architecture is neither installed nor
// fetchable.
var ErrNoEFIStub = errors.New("vmimage: no systemd-stub")

// ErrNoObjcopy is returned when no objcopy that writes the architecture's PE images is
// installed.
var ErrNoObjcopy = errors.New("vmimage: no objcopy for the architecture")

// systemStubDir is where Debian's systemd-boot-efi installs systemd-stub.
const systemStubDir = "/usr/lib/systemd/boot/efi"

// FindEFIStub returns the path of systemd-stub for arch (linuxx64.efi.stub or
// linuxaa64.efi.stub): the installed one from systemd-boot-efi, or else the one in Debian's
// systemd-boot-efi package for arch, fetched with apt-get download into cacheDir once.
func FindEFIStub(ctx context.Context, arch Arch, cacheDir string) (string, error) {
	return findEFIStub(ctx, arch, cacheDir, systemStubDir)
}

// findEFIStub is FindEFIStub with systemd-boot-efi's installation directory as a parameter.
func findEFIStub(ctx context.Context, arch Arch, cacheDir, systemDir string) (string, error) {
	installed := filepath.Join(systemDir, arch.efiStubName())
	if _, err := os.Stat(installed); err == nil {
		return installed, nil
	}
	dir := filepath.Join(cacheDir, "systemd-boot-efi-"+string(arch))
	cached := filepath.Join(dir, systemStubDir, arch.efiStubName())
	if _, err := os.Stat(cached); err == nil {
		return cached, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(cached); err == nil {
		return cached, nil
	}
	if err := downloadAndUnpack(ctx, "systemd-boot-efi:"+string(arch), cacheDir, dir); err != nil {
		return "", fmt.Errorf("%w for %s (apt-get install systemd-boot-efi:%s): %v", ErrNoEFIStub, arch, arch, err)
	}
	if _, err := os.Stat(cached); err != nil {
		return "", fmt.Errorf("%w: systemd-boot-efi:%s has no %s", ErrNoEFIStub, arch, arch.efiStubName())
	}
	return cached, nil
}

// objcopyFor returns an objcopy that writes PE images of arch: the cross binutils' one named
// by the target triplet (binutils-aarch64-linux-gnu on an x86 host), or the host's own when its
// list of supported targets has the architecture's PE format.
func objcopyFor(ctx context.Context, arch Arch) (string, error) {
	triplet, peTarget := "x86_64-linux-gnu", "pei-x86-64"
	if arch == ARM64 {
		triplet, peTarget = "aarch64-linux-gnu", "pei-aarch64-little"
	}
	for _, name := range []string{triplet + "-objcopy", "objcopy"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		help, err := command(ctx, "", p, "--help")
		if err == nil && bytes.Contains(help, []byte(peTarget)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w %s: none writes %s (apt-get install binutils-%s)",
		ErrNoObjcopy, arch, peTarget, strings.ReplaceAll(triplet, "_", "-"))
}

// UKI is what goes into a unified kernel image.
type UKI struct {
	// Stub is systemd-stub for the architecture (FindEFIStub).
	Stub string
	// Kernel is the kernel image, an EFI-stub bzImage or arm64 Image.
	Kernel string
	// Initrd is the initramfs.
	Initrd string
	// Cmdline is the kernel command line, embedded: firmware cannot change it.
	Cmdline string
	// OSRelease is the content of the .osrel section (os-release(5) lines); empty gives a
	// generic one.
	OSRelease string
}

// WriteUKI assembles a unified kernel image for arch at out: systemd-stub with .osrel,
// .cmdline, .linux and .initrd sections added by objcopy, laid out one after another above
// the stub's own sections at page-aligned addresses (systemd-stub(7)). UEFI firmware runs it
// as an application; the stub boots the kernel with the initrd and the embedded command line.
func WriteUKI(ctx context.Context, arch Arch, u UKI, out string) error {
	objcopy, err := objcopyFor(ctx, arch)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "unikit-uki-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	osrel := u.OSRelease
	if osrel == "" {
		osrel = "NAME=unikit\nID=unikit\nPRETTY_NAME=\"unikit appliance\"\n"
	}
	osrelFile := filepath.Join(tmp, "os-release")
	cmdlineFile := filepath.Join(tmp, "cmdline")
	if err := os.WriteFile(osrelFile, []byte(osrel), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(cmdlineFile, []byte(u.Cmdline), 0o644); err != nil {
		return err
	}

	addr, err := stubEnd(u.Stub)
	if err != nil {
		return err
	}
	args := []string{}
	for _, s := range []struct{ name, file string }{
		{".osrel", osrelFile}, {".cmdline", cmdlineFile}, {".linux", u.Kernel}, {".initrd", u.Initrd},
	} {
		fi, err := os.Stat(s.file)
		if err != nil {
			return err
		}
		args = append(args, "--add-section", s.name+"="+s.file,
			"--change-section-vma", s.name+"=0x"+strconv.FormatUint(addr, 16))
		addr = alignUp(addr+uint64(fi.Size()), ukiSectionAlign)
	}
	args = append(args, u.Stub, out)
	if _, err := command(ctx, "", objcopy, args...); err != nil {
		return fmt.Errorf("vmimage: assembling the unified kernel image: %w", err)
	}
	return nil
}

// ukiSectionAlign is the alignment of the sections added to systemd-stub: a page, at least
// the stub's own section alignment (0x200 on x64, 0x1000 on aa64 in systemd 252).
const ukiSectionAlign = 0x1000

// stubEnd returns the first page-aligned address above every section of the stub, where the
// added sections may start.
func stubEnd(stub string) (uint64, error) {
	f, err := pe.Open(stub)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrNoEFIStub, stub, err)
	}
	defer f.Close()
	h, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return 0, fmt.Errorf("%w: %s is not a PE32+ image", ErrNoEFIStub, stub)
	}
	end := uint64(h.SizeOfImage)
	for _, s := range f.Sections {
		end = max(end, uint64(s.VirtualAddress)+uint64(max(s.VirtualSize, s.Size)))
	}
	return h.ImageBase + alignUp(end, ukiSectionAlign), nil
}

// alignUp rounds n up to a multiple of the power of two a.
func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }
