package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/vmimage"
)

// unikit runs the command with args and returns its error and what it printed.
func unikit(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(context.Background(), args, nil, &o, &e)
	return o.String(), e.String(), err
}

func TestUsage(t *testing.T) {
	_, stderr, err := unikit()
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr, "unikit image [-arch amd64|arm64]")

	stdout, _, err := unikit("help")
	require.NoError(t, err)
	require.Contains(t, stdout, "unikit run [-listen HOST:PORT]")

	_, stderr, err = unikit("boot")
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr, `unknown command "boot"`)
}

func TestImageHelpSaysHowTheKernelIsFetched(t *testing.T) {
	_, stderr, err := unikit("image", "-h")
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, stderr, `apt-get download`)
	require.Contains(t, stderr, `-modules DIR`)
	require.Contains(t, stderr, "dpkg --add-architecture arm64")
}

func TestImageRefusesBadInvocations(t *testing.T) {
	_, stderr, err := unikit("image")
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr, "no package named")

	_, stderr, err = unikit("image", "./pkg", "-o", "dir")
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr, `unexpected "-o" after the package`)

	_, _, err = unikit("image", "-arch", "riscv64", "./pkg")
	require.ErrorIs(t, err, vmimage.ErrUnknownArch)

	_, _, err = unikit("image", "-modules", "/lib/modules/x", "./pkg")
	require.ErrorContains(t, err, "-modules goes with -kernel")

	// Flags the kernel command line cannot carry (it holds 2047 bytes) are refused before
	// anything is built.
	_, _, err = unikit("image", "-o", t.TempDir(), "./pkg", "--", "-title", strings.Repeat("x", vmimage.MaxCmdline))
	require.ErrorIs(t, err, vmimage.ErrApplianceArg)
}

func TestSplitPackageArgs(t *testing.T) {
	pkg, args, err := splitPackageArgs([]string{"./examples/hello"})
	require.NoError(t, err)
	require.Equal(t, "./examples/hello", pkg)
	require.Empty(t, args)

	pkg, args, err = splitPackageArgs([]string{"./examples/hello", "--", "-net", "virtio-pci", "--", "x"})
	require.NoError(t, err)
	require.Equal(t, "./examples/hello", pkg)
	require.Equal(t, []string{"-net", "virtio-pci", "--", "x"}, args)
}

func TestRunRefusesBadInvocations(t *testing.T) {
	_, stderr, err := unikit("run")
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr, "want one image directory")

	_, _, err = unikit("run", t.TempDir())
	require.ErrorIs(t, err, vmimage.ErrNotImage)
}

func TestDefaultImageDir(t *testing.T) {
	require.Equal(t, "hello-amd64", defaultImageDir("./examples/hello", vmimage.AMD64))
	require.Equal(t, "hello-arm64", defaultImageDir("./examples/hello/", vmimage.ARM64))
	require.Equal(t, "blog-amd64", defaultImageDir("github.com/unikit/unikit/examples/blog", vmimage.AMD64))
	require.Equal(t, "unikit-amd64", defaultImageDir(".", vmimage.AMD64), "the current directory's name")
}
