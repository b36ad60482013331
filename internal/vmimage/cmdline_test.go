package vmimage

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKernelCmdline(t *testing.T) {
	for _, tc := range []struct {
		arch Arch
		args []string
		want string
	}{
		{AMD64, nil, "console=ttyS0 panic=-1 quiet"},
		{ARM64, nil, "console=ttyAMA0 panic=-1 quiet"},
		{AMD64, []string{"-net", "virtio-pci", "-listen=:80"}, "console=ttyS0 panic=-1 quiet -- -net virtio-pci -listen=:80"},
		{ARM64, []string{"--", "-v"}, "console=ttyAMA0 panic=-1 quiet -- -- -v"},
	} {
		got, err := KernelCmdline(tc.arch, tc.args)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}

func TestEncodeApplianceArgsRefuses(t *testing.T) {
	for _, bad := range [][]string{
		{""},
		{"-site", "/my site"},
		{"-title=\"x\""},
		{"it's"},
		{"a\tb"},
		{"a\nb"},
		{`back\slash`},
	} {
		_, err := EncodeApplianceArgs(bad)
		require.ErrorIs(t, err, ErrApplianceArg, "%q", bad)
		_, err = KernelCmdline(AMD64, bad)
		require.ErrorIs(t, err, ErrApplianceArg, "%q", bad)
	}
}

func TestKernelCmdlineLimits(t *testing.T) {
	args := make([]string, MaxApplianceArgs)
	for i := range args {
		args[i] = "-v"
	}
	_, err := KernelCmdline(AMD64, args)
	require.NoError(t, err)
	_, err = KernelCmdline(AMD64, append(args, "-v"))
	require.ErrorIs(t, err, ErrApplianceArg)

	_, err = KernelCmdline(AMD64, []string{strings.Repeat("x", MaxCmdline)})
	require.ErrorIs(t, err, ErrApplianceArg)
}
