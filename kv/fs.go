package kv

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"time"
)

// The fs.FS view of a snapshot. Entries are regular files (mode 0444) and the prefixes of
// keys are directories (mode 0555, zero modification time). Files opened implement
// io.ReaderAt and io.Seeker, as http.FS needs.

// fsKey maps an fs.FS name to a key ("" for the root) or fails with fs.ErrInvalid.
func fsKey(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "", nil
	}
	return name, nil
}

// Open implements fs.FS.
func (s *Snapshot) Open(name string) (fs.File, error) {
	key, err := fsKey("open", name)
	if err != nil {
		return nil, err
	}
	if e, ok := s.entries[key]; ok {
		return &file{e: e}, nil
	}
	if l, ok := s.dirs[key]; ok {
		return &dir{s: s, info: dirInfo(name), key: key, list: l}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Stat implements fs.StatFS. Use Info for the kv metadata; the fs.FileInfo's Sys method
// returns the *Entry of a file.
func (s *Snapshot) Stat(name string) (fs.FileInfo, error) {
	key, err := fsKey("stat", name)
	if err != nil {
		return nil, err
	}
	if e, ok := s.entries[key]; ok {
		return fileInfo{e}, nil
	}
	if _, ok := s.dirs[key]; ok {
		return dirInfo(name), nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// ReadFile implements fs.ReadFileFS. It returns a copy, which the caller may modify; Get
// returns the stored bytes without copying.
func (s *Snapshot) ReadFile(name string) ([]byte, error) {
	key, err := fsKey("readfile", name)
	if err != nil {
		return nil, err
	}
	if e, ok := s.entries[key]; ok {
		return slices.Clone(e.Data), nil
	}
	if _, ok := s.dirs[key]; ok {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	return nil, &fs.PathError{Op: "readfile", Path: name, Err: fs.ErrNotExist}
}

// ReadDir implements fs.ReadDirFS.
func (s *Snapshot) ReadDir(name string) ([]fs.DirEntry, error) {
	key, err := fsKey("readdir", name)
	if err != nil {
		return nil, err
	}
	l, ok := s.dirs[key]
	if !ok {
		if _, isFile := s.entries[key]; isFile {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
		}
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return s.fsDirEntries(key, l), nil
}

// fsDirEntries converts a directory listing.
func (s *Snapshot) fsDirEntries(key string, l []DirEntry) []fs.DirEntry {
	out := make([]fs.DirEntry, len(l))
	for i, c := range l {
		if c.Dir {
			out[i] = fs.FileInfoToDirEntry(dirInfo(c.Name))
			continue
		}
		k := c.Name
		if key != "" {
			k = key + "/" + c.Name
		}
		out[i] = fs.FileInfoToDirEntry(fileInfo{s.entries[k]})
	}
	return out
}

// fileInfo is the fs.FileInfo of an entry.
type fileInfo struct{ e *Entry }

func (fi fileInfo) Name() string       { return baseName(fi.e.Key) }
func (fi fileInfo) Size() int64        { return fi.e.Size }
func (fi fileInfo) Mode() fs.FileMode  { return 0o444 }
func (fi fileInfo) ModTime() time.Time { return fi.e.ModTime }
func (fi fileInfo) IsDir() bool        { return false }
func (fi fileInfo) Sys() any           { return fi.e }

// dirInfo is the fs.FileInfo of a directory; the value is its fs.FS name.
type dirInfo string

func (di dirInfo) Name() string {
	if di == "." {
		return "."
	}
	return baseName(string(di))
}
func (di dirInfo) Size() int64        { return 0 }
func (di dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (di dirInfo) ModTime() time.Time { return time.Time{} }
func (di dirInfo) IsDir() bool        { return true }
func (di dirInfo) Sys() any           { return nil }

// file is an open entry.
type file struct {
	e      *Entry
	off    int64
	closed bool
}

func (f *file) Stat() (fs.FileInfo, error) { return fileInfo{f.e}, nil }

func (f *file) Read(p []byte) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	if f.off >= int64(len(f.e.Data)) {
		return 0, io.EOF
	}
	n := copy(p, f.e.Data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.e.Key, Err: fs.ErrInvalid}
	}
	if off >= int64(len(f.e.Data)) {
		return 0, io.EOF
	}
	n := copy(p, f.e.Data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += int64(len(f.e.Data))
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.e.Key, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.e.Key, Err: fs.ErrInvalid}
	}
	f.off = offset
	return offset, nil
}

func (f *file) Close() error {
	if f.closed {
		return fs.ErrClosed
	}
	f.closed = true
	return nil
}

// dir is an open directory.
type dir struct {
	s    *Snapshot
	info dirInfo
	key  string
	list []DirEntry
	pos  int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }

func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: string(d.info), Err: errors.New("is a directory")}
}

func (d *dir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.list[d.pos:]
	if n > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(n, len(rest))]
	}
	d.pos += len(rest)
	return d.s.fsDirEntries(d.key, rest), nil
}
