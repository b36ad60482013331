package vmimage

import (
	"errors"
	"fmt"
	"strings"
)

// MaxCmdline is the longest kernel command line accepted, in bytes: COMMAND_LINE_SIZE less its
// terminating NUL on x86 and arm64 (both 2048 in Linux 6.1).
const MaxCmdline = 2047

// MaxApplianceArgs is how many arguments the kernel hands to init after its own name:
// argv_init holds CONFIG_INIT_ENV_ARG_LIMIT (32 on Debian) entries, and one more panics the
// kernel ("Too many boot init vars").
const MaxApplianceArgs = 31

// ErrApplianceArg is returned for an appliance argument the kernel command line cannot carry.
var ErrApplianceArg = errors.New("vmimage: appliance argument cannot go on the kernel command line")

// KernelCmdline returns the kernel command line that boots an appliance with the given flags:
// the architecture's serial console, panic=-1 (a panic reboots at once, which QEMU's -no-reboot
// turns into an exit), quiet, then the appliance's flags as EncodeApplianceArgs writes them.
func KernelCmdline(arch Arch, applianceArgs []string) (string, error) {
	enc, err := EncodeApplianceArgs(applianceArgs)
	if err != nil {
		return "", err
	}
	line := "console=" + arch.Console() + " panic=-1 quiet"
	if enc != "" {
		line += " " + enc
	}
	if len(line) > MaxCmdline {
		return "", fmt.Errorf("%w: the command line would be %d bytes, more than the kernel's %d",
			ErrApplianceArg, len(line), MaxCmdline)
	}
	return line, nil
}

// EncodeApplianceArgs writes the appliance's flags in the form the kernel passes to /init:
// Linux hands every word after a literal "--" on its command line to init as an argument
// (init/main.c), so the flags follow "--" separated by single spaces. The kernel's parser has
// its own quoting rules, so an argument that is empty or holds white space or a quote is
// refused rather than mangled. No flags give an empty string.
func EncodeApplianceArgs(args []string) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	if len(args) > MaxApplianceArgs {
		return "", fmt.Errorf("%w: %d arguments, more than the kernel's %d", ErrApplianceArg, len(args), MaxApplianceArgs)
	}
	for _, a := range args {
		if a == "" {
			return "", fmt.Errorf("%w: an empty argument", ErrApplianceArg)
		}
		if i := strings.IndexAny(a, " \t\n\v\f\r\"'\\"); i >= 0 {
			return "", fmt.Errorf("%w: %q holds %q (white space, quotes and backslashes are refused)",
				ErrApplianceArg, a, a[i])
		}
	}
	return "-- " + strings.Join(args, " "), nil
}
