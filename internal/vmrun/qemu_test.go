package vmrun

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/vmimage"
)

// testImage is an image directory's description; qemuArgs does not open its files.
func testImage(arch vmimage.Arch) vmimage.Image {
	return vmimage.Image{
		Dir: "/img", Arch: arch,
		Kernel: "/img/vmlinuz", Initrd: "/img/initrd.img", Disk: "/img/disk.img",
		Cmdline: "console=" + arch.Console() + " panic=-1 quiet -- -v",
	}
}

// flagValue returns the value that follows the first occurrence of flag in args.
func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	require.GreaterOrEqual(t, i, 0, "%s missing from %q", flag, args)
	require.Less(t, i+1, len(args))
	return args[i+1]
}

func TestQEMUArgsDirectBoot(t *testing.T) {
	im := testImage(vmimage.AMD64)
	args, err := qemuArgs(im, Config{}, AccelTCG, nil)
	require.NoError(t, err)
	require.Equal(t, "pc", flagValue(t, args, "-M"))
	require.Equal(t, "tcg", flagValue(t, args, "-accel"))
	require.Equal(t, DefaultMemory, flagValue(t, args, "-m"))
	require.Equal(t, im.Kernel, flagValue(t, args, "-kernel"))
	require.Equal(t, im.Initrd, flagValue(t, args, "-initrd"))
	require.Equal(t, im.Cmdline, flagValue(t, args, "-append"))
	require.Equal(t, "user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80", flagValue(t, args, "-netdev"))
	require.Equal(t, "virtio-net-pci,netdev=net0,romfile=", flagValue(t, args, "-device"))
	require.Contains(t, args, "-nographic")
	require.Contains(t, args, "-no-reboot")
	require.NotContains(t, args, "-cpu", "TCG's default x86 CPU runs Go's amd64 v1 code")
	require.NotContains(t, args, "-drive")
}

func TestQEMUArgsARM64(t *testing.T) {
	args, err := qemuArgs(testImage(vmimage.ARM64), Config{Listen: "0.0.0.0:18080", Memory: "1G", QEMUArgs: []string{"-smp", "2"}}, AccelTCG, nil)
	require.NoError(t, err)
	require.Equal(t, "virt", flagValue(t, args, "-M"))
	require.Equal(t, "cortex-a57", flagValue(t, args, "-cpu"))
	require.Equal(t, "none", flagValue(t, args, "-net"), "virt's default NIC is left out")
	require.Equal(t, "1G", flagValue(t, args, "-m"))
	require.Equal(t, "user,id=net0,hostfwd=tcp:0.0.0.0:18080-:80", flagValue(t, args, "-netdev"))
	require.Equal(t, []string{"-smp", "2"}, args[len(args)-2:])

	args, err = qemuArgs(testImage(vmimage.ARM64), Config{}, AccelKVM, nil)
	require.NoError(t, err)
	require.Equal(t, "virt,gic-version=host", flagValue(t, args, "-M"))
	require.Equal(t, "host", flagValue(t, args, "-cpu"))
}

func TestQEMUArgsUEFI(t *testing.T) {
	im := testImage(vmimage.AMD64)
	fw := &firmware{code: "/fw/CODE.fd", vars: "/tmp/vars.fd"}
	args, err := qemuArgs(im, Config{UEFI: true}, AccelKVM, fw)
	require.NoError(t, err)
	require.NotContains(t, args, "-kernel")
	require.NotContains(t, args, "-append")
	require.Equal(t, "host", flagValue(t, args, "-cpu"))
	var drives []string
	for i, a := range args {
		if a == "-drive" {
			drives = append(drives, args[i+1])
		}
	}
	require.Equal(t, []string{
		"if=pflash,format=raw,readonly=on,file=/fw/CODE.fd",
		"if=pflash,format=raw,file=/tmp/vars.fd",
		"if=virtio,format=raw,readonly=on,file=/img/disk.img",
	}, drives)
}

func TestHostForward(t *testing.T) {
	for in, want := range map[string]string{
		"":               "tcp:127.0.0.1:8080-:80",
		"127.0.0.1:9000": "tcp:127.0.0.1:9000-:80",
		":80":            "tcp::80-:80",
	} {
		got, err := hostForward(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"8080", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:http", "localhost:8080", "[::1]:8080"} {
		_, err := hostForward(bad)
		require.ErrorIs(t, err, ErrConfig, bad)
	}
}

func TestAccel(t *testing.T) {
	a, err := accelFor(vmimage.AMD64, "tcg")
	require.NoError(t, err)
	require.Equal(t, AccelTCG, a)
	a, err = accelFor(vmimage.AMD64, "kvm")
	require.NoError(t, err)
	require.Equal(t, AccelKVM, a)
	_, err = accelFor(vmimage.AMD64, "hvf")
	require.ErrorIs(t, err, ErrConfig)

	foreign := vmimage.ARM64
	if runtime.GOARCH == "arm64" {
		foreign = vmimage.AMD64
	}
	require.False(t, KVMUsable(foreign), "KVM never runs a guest of another architecture")
	a, err = accelFor(foreign, "")
	require.NoError(t, err)
	require.Equal(t, AccelTCG, a)
}

func TestStartRefusesBadConfig(t *testing.T) {
	_, err := Start(context.Background(), testImage(vmimage.AMD64), Config{Accel: "xen"})
	require.ErrorIs(t, err, ErrConfig)
	_, err = Start(context.Background(), testImage(vmimage.AMD64), Config{Accel: AccelTCG, Listen: "nowhere"})
	require.ErrorIs(t, err, ErrConfig)
	_, err = Start(context.Background(), vmimage.Image{Arch: "riscv64"}, Config{Accel: AccelTCG})
	require.ErrorIs(t, err, ErrConfig)
}

func TestFirmwareCandidates(t *testing.T) {
	pkg, c := firmwareCandidates(vmimage.AMD64)
	require.Equal(t, "ovmf", pkg)
	require.True(t, strings.HasSuffix(c[0].code, "OVMF_CODE_4M.fd"))
	pkg, c = firmwareCandidates(vmimage.ARM64)
	require.Equal(t, "qemu-efi-aarch64", pkg)
	require.True(t, strings.HasSuffix(c[0].code, "AAVMF_CODE.fd"))
}

func TestQEMUArgsTAP(t *testing.T) {
	args, err := qemuArgs(testImage(vmimage.AMD64), Config{
		TAP: "uktap0", TAPQueues: 2, NICProperties: []string{"mq=on", "vectors=6"},
	}, AccelTCG, nil)
	require.NoError(t, err)
	require.Equal(t, "tap,id=net0,ifname=uktap0,script=no,downscript=no,queues=2", flagValue(t, args, "-netdev"))
	require.Equal(t, "virtio-net-pci,netdev=net0,romfile=,mq=on,vectors=6", flagValue(t, args, "-device"))

	args, err = qemuArgs(testImage(vmimage.AMD64), Config{TAP: "uktap0", Listen: "ignored"}, AccelTCG, nil)
	require.NoError(t, err, "Listen is not used with a TAP device")
	require.Equal(t, "tap,id=net0,ifname=uktap0,script=no,downscript=no", flagValue(t, args, "-netdev"))

	for _, bad := range []Config{
		{TAP: "tap0,fd=3"},
		{TAP: "a-name-longer-than-15"},
		{TAP: "tap0", TAPQueues: -1},
		{TAPQueues: 2},
	} {
		_, err := qemuArgs(testImage(vmimage.AMD64), bad, AccelTCG, nil)
		require.ErrorIs(t, err, ErrConfig, "%+v", bad)
	}
}
