package kv

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// LoadOptions configures LoadFS and LoadDir. The zero value (or nil) loads the files as
// they are, with the sidecar variants found beside them and no others.
type LoadOptions struct {
	// Encodings lists the content encodings (EncodingGzip, ...) to compute for files of
	// compressible types that have no sidecar of that encoding. Compressing costs time at
	// load; an image built by WriteImage carries its variants instead.
	Encodings []string
	// Logger receives a warning for every file skipped (symbolic links, special files,
	// names that are not valid keys, sidecars that do not decode to their original). Nil
	// discards them.
	Logger *slog.Logger
}

// sidecarExt maps the file extensions of precompressed sidecars to their encodings.
func sidecarEncoding(key string) (base, enc string) {
	for _, s := range [...]struct{ ext, enc string }{
		{".gz", EncodingGzip}, {".br", EncodingBrotli}, {".zst", EncodingZstd},
	} {
		if b, ok := strings.CutSuffix(key, s.ext); ok && b != "" && !strings.HasSuffix(b, "/") {
			return b, s.enc
		}
	}
	return "", ""
}

// LoadDir loads the regular files under the directory dir into a new snapshot, as LoadFS
// does, reading through an os.Root: symbolic links are skipped, and even one that appears
// while loading cannot lead outside dir.
func LoadDir(dir string, opts *LoadOptions) (*Snapshot, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("kv: %w", err)
	}
	defer root.Close()
	return LoadFS(root.FS(), opts)
}

// LoadFS loads every regular file of fsys into a new snapshot, the file's path becoming its
// key and its modification time the entry's. It reads each file once and computes its digest
// and content type then.
//
// What is loaded:
//   - Symbolic links are skipped, to files and to directories alike: os.DirFS follows them,
//     which could bring in content from outside the directory. (Use LoadDir for a directory
//     on disk: it also refuses links that appear while loading.) Other special files
//     (devices, pipes, sockets) are skipped too.
//   - Dotfiles and dot-directories (".well-known", ".htaccess") are loaded as keys like any
//     other: deciding not to serve them is the server's business, and some of them, such as
//     .well-known, are meant to be served.
//   - A file whose path is not a valid key (a backslash or control character in its name,
//     a name longer than MaxSegmentLen) is skipped with a warning.
//   - A sidecar "x.gz", "x.br" or "x.zst" beside a file "x" (as nginx's gzip_static uses) is
//     also attached to "x" as its variant of that encoding, if it is smaller than "x" and
//     decodes to exactly the content of "x"; it stays a key of its own as well.
//   - opts.Encodings adds computed variants to compressible files without a sidecar.
func LoadFS(fsys fs.FS, opts *LoadOptions) (*Snapshot, error) {
	var o LoadOptions
	if opts != nil {
		o = *opts
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	entries := map[string]*Entry{}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			log.Warn("kv: skipping symbolic link", "path", path)
			return nil
		}
		if d.IsDir() {
			if path != "." && !ValidKey(path) {
				log.Warn("kv: skipping directory whose name is not a valid key", "path", path)
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			log.Warn("kv: skipping special file", "path", path, "mode", d.Type().String())
			return nil
		}
		if !ValidKey(path) {
			log.Warn("kv: skipping file whose name is not a valid key", "path", path)
			return nil
		}
		data, info, err := readRegular(fsys, path)
		if err != nil {
			return err
		}
		if info == nil {
			log.Warn("kv: skipping file that is no longer a regular file", "path", path)
			return nil
		}
		e, err := newEntry(path, data, Meta{ModTime: info.ModTime()}, nil)
		if err != nil {
			return err
		}
		entries[path] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv: loading files: %w", err)
	}
	for key, sc := range entries {
		base, enc := sidecarEncoding(key)
		e := entries[base]
		if e == nil || sc.Size >= e.Size {
			continue
		}
		orig, err := decompress(enc, sc.Data, e.Size)
		if err != nil || !bytes.Equal(orig, e.Data) {
			log.Warn("kv: ignoring sidecar that does not decode to its original", "path", key, "err", err)
			continue
		}
		e.addVariant(enc, sc.Data)
	}
	if len(o.Encodings) > 0 {
		for _, e := range entries {
			if !Compressible(e.ContentType) {
				continue
			}
			for _, enc := range o.Encodings {
				if _, ok := e.Variant(enc); ok {
					continue
				}
				z, err := Compress(enc, e.Data)
				if err != nil {
					return nil, fmt.Errorf("kv: %s: %w", e.Key, err)
				}
				e.addVariant(enc, z)
			}
		}
	}
	return newSnapshot(entries, nextGeneration())
}

// readRegular reads the file at path, checking through the open file that it is a regular
// file; it returns a nil info (and no error) for one that is not.
func readRegular(fsys fs.FS, path string) ([]byte, fs.FileInfo, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, nil
	}
	// Read into a buffer of exactly the size the file claims, then look for more with a probe
	// byte: growing the buffer to find EOF would double the memory every entry keeps (the
	// content stays referenced for the life of the snapshot). If the file grew meanwhile,
	// keep reading.
	size := info.Size()
	if size < 0 || int64(int(size)) != size {
		size = 0
	}
	data := make([]byte, int(size))
	n, err := io.ReadFull(f, data)
	data = data[:n]
	switch err {
	case nil:
		var probe [1]byte
		m, perr := f.Read(probe[:])
		if m == 0 && perr == io.EOF {
			break
		}
		if perr != nil && perr != io.EOF {
			return nil, nil, perr
		}
		rest, rerr := io.ReadAll(f)
		if rerr != nil {
			return nil, nil, rerr
		}
		data = append(append(data, probe[:m]...), rest...)
	case io.EOF, io.ErrUnexpectedEOF: // the file shrank meanwhile
	default:
		return nil, nil, err
	}
	data = data[:len(data):len(data)]
	return data, info, nil
}
