package vmimage

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/unikit/unikit/guest/kmod"
)

// ErrBadModule is returned for a kernel module file that is not an ELF object with a
// well-formed .modinfo section.
var ErrBadModule = errors.New("vmimage: bad kernel module")

// moduleFileName returns the module name of a file name (its base without a module suffix),
// or "" when the file is not a kernel module. Modules end in .ko, or in .ko.gz, .ko.xz or
// .ko.zst when compressed (CONFIG_MODULE_COMPRESS_{NONE,GZIP,XZ,ZSTD}).
func moduleFileName(base string) string {
	for _, s := range [...]string{".ko", ".ko.gz", ".ko.xz", ".ko.zst"} {
		if strings.HasSuffix(base, s) {
			return strings.TrimSuffix(base, s)
		}
	}
	return ""
}

// readModuleFile returns the uncompressed ELF object of a kernel module file, decompressing
// .ko.gz, .ko.xz and .ko.zst by their suffix. Modules go into the initramfs uncompressed, so the
// guest can load them with finit_module on any kernel, whether or not it decompresses.
func readModuleFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(path, ".ko"):
		return raw, nil
	case strings.HasSuffix(path, ".ko.gz"):
		r, err = gzip.NewReader(bytes.NewReader(raw))
	case strings.HasSuffix(path, ".ko.xz"):
		r, err = xz.NewReader(bytes.NewReader(raw))
	case strings.HasSuffix(path, ".ko.zst"):
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(raw))
		if err == nil {
			defer d.Close()
			r = d
		}
	default:
		return nil, fmt.Errorf("%w: %s: not a .ko, .ko.gz, .ko.xz or .ko.zst file", ErrBadModule, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadModule, path, err)
	}
	obj, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadModule, path, err)
	}
	return obj, nil
}

// modinfo is what the .modinfo section of a module says about it.
type modinfo struct {
	// name is KBUILD_MODNAME, normalised; empty when the section does not say.
	name string
	// depends lists the modules that must be loaded first, normalised, in the order given.
	depends []string
}

// parseModinfo reads the .modinfo section of a kernel module's ELF object with the guest
// runtime's own parser (guest/kmod), so that the image is built from the same reading of a
// module the guest loads it by.
func parseModinfo(obj []byte) (modinfo, error) {
	info, err := kmod.ReadInfo(bytes.NewReader(obj))
	if err != nil {
		return modinfo{}, fmt.Errorf("%w: %v", ErrBadModule, err)
	}
	return modinfo{name: info.Name, depends: info.Depends}, nil
}
