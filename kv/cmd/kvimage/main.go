// Command kvimage builds a kv content image from a directory: every regular file, with its
// SHA-256 digest, content type and precompressed variants, in one verified file that a
// program embeds (go:embed) or opens at start with kv.LoadImage / kv.OpenImage.
//
// Usage:
//
//	kvimage -o site.kvimg [-encodings br,zstd,gzip] DIR
//
// It fits go generate:
//
//	//go:generate go run github.com/unikit/unikit/kv/cmd/kvimage -o site.kvimg ./public
//	//go:embed site.kvimg
//	var siteImage []byte
//
// Symbolic links in DIR are skipped (never followed out of it); sidecars x.gz, x.br and
// x.zst become variants of x. The output is written to a temporary file and renamed, so a
// failed run never leaves a half-written image behind.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/unikit/unikit/kv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kvimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kvimage", flag.ContinueOnError)
	out := fs.String("o", "", "output image `file` (required)")
	encodings := fs.String("encodings", strings.Join(kv.Encodings(), ","),
		"comma-separated content encodings to precompute for compressible files (empty for none)")
	quiet := fs.Bool("q", false, "do not print a summary")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kvimage -o FILE [-encodings br,zstd,gzip] [-q] DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("need -o FILE and one directory")
	}
	var encs []string
	for e := range strings.SplitSeq(*encodings, ",") {
		if e = strings.TrimSpace(e); e != "" {
			if _, err := kv.Compress(e, nil); err != nil {
				return err
			}
			encs = append(encs, e)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	snap, err := kv.LoadDir(fs.Arg(0), &kv.LoadOptions{Encodings: encs, Logger: log})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), filepath.Base(*out)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := kv.WriteImage(tmp, snap); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	if !*quiet {
		var size, variants int64
		for e := range snap.All() {
			size += e.Size
			for _, v := range e.Variants {
				variants += v.Size
			}
		}
		st, err := os.Stat(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "kvimage: %s: %d files, %d bytes of content, %d bytes of variants, image %d bytes\n",
			*out, snap.Len(), size, variants, st.Size())
	}
	return nil
}
