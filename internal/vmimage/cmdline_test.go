package vmimage

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/guest"
)

func TestKernelCmdline(t *testing.T) {
	for _, tc := range []struct {
		arch Arch
		args []string
		want string
	}{
		{AMD64, nil, "console=ttyS0 panic=-1 quiet no_timer_check"},
		{ARM64, nil, "console=ttyAMA0 panic=-1 quiet"},
		{AMD64, []string{"-net", "virtio-pci", "-listen=:80"}, "console=ttyS0 panic=-1 quiet no_timer_check unikit.args=-net,virtio-pci,-listen=:80,"},
		{ARM64, []string{"-title", `My "blog", 2`}, "console=ttyAMA0 panic=-1 quiet unikit.args=-title,My%20%22blog%22%2C%202,"},
	} {
		got, err := KernelCmdline(tc.arch, tc.args)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}

// The guest runtime reads back exactly the arguments the image builder wrote, including those
// the kernel's own "--" convention could not carry.
func TestKernelCmdlineRoundTrip(t *testing.T) {
	args := []string{"", "-site", "/my site", `-title="x"`, "it's", "a\tb", `back\slash`, "--"}
	for range 40 {
		args = append(args, "-v")
	}
	line, err := KernelCmdline(AMD64, args)
	require.NoError(t, err)
	got, err := guest.CmdlineArgs(line)
	require.NoError(t, err)
	require.Equal(t, args, got)
}

func TestKernelCmdlineLimit(t *testing.T) {
	_, err := KernelCmdline(AMD64, []string{strings.Repeat("x", MaxCmdline)})
	require.ErrorIs(t, err, ErrApplianceArg)
}
