//go:build linux

package soak

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// File is one file of the soak site.
type File struct {
	Name string // e.g. "8m.bin"
	Size int
}

// Files are the soak site's files: 1 KiB, 64 KiB, 1 MiB and 8 MiB.
var Files = []File{{"1k.bin", 1 << 10}, {"64k.bin", 64 << 10}, {"1m.bin", 1 << 20}, {"8m.bin", 8 << 20}}

// Path returns the file's URL path.
func (f File) Path() string { return "/" + f.Name }

// Site is a directory the appliance serves with -site, whose files are rewritten version by
// version while it runs. Every version of every file has content of its own, whose SHA-256
// digest the site remembers, so that a client can tell which version a body is, and that it
// is one version whole.
type Site struct {
	// Dir is the directory to serve.
	Dir string
	// staging is where files are written before they are renamed into Dir, so that loading
	// Dir never meets a file being written.
	staging string

	mu      sync.Mutex
	version int
	// digests maps the hex SHA-256 digest of every version written to "name vN".
	digests map[string]string
}

// NewSite writes version 0 of the site in parent/site, staging its files in parent/staging.
func NewSite(parent string) (*Site, error) {
	s := &Site{Dir: filepath.Join(parent, "site"), staging: filepath.Join(parent, "staging"),
		digests: make(map[string]string)}
	for _, d := range []string{s.Dir, s.staging} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return s, s.write(0)
}

// Next writes the site's next version, each file replaced by rename so that a reload reads
// either version whole, and returns its number.
func (s *Site) Next() (int, error) {
	s.mu.Lock()
	v := s.version + 1
	s.mu.Unlock()
	return v, s.write(v)
}

// write writes version v of every file.
func (s *Site) write(v int) error {
	for _, f := range Files {
		b := content(f, v)
		sum := sha256.Sum256(b)
		s.mu.Lock()
		s.digests[hex.EncodeToString(sum[:])] = fmt.Sprintf("%s v%d", f.Name, v)
		s.mu.Unlock()
		tmp := filepath.Join(s.staging, f.Name)
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(s.Dir, f.Name)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.version = v
	s.mu.Unlock()
	return nil
}

// content is version v of f: a first line naming both, then bytes from a ChaCha8 stream
// seeded with them.
func content(f File, v int) []byte {
	b := make([]byte, f.Size)
	head := fmt.Sprintf("%s v%d\n", f.Name, v)
	n := copy(b, head)
	var seed [32]byte
	copy(seed[:], f.Name)
	binary.LittleEndian.PutUint64(seed[24:], uint64(v))
	rand.NewChaCha8(seed).Read(b[n:])
	return b
}

// Check reports what is wrong with a response for f: a length other than f's, a body that
// is no version of f the site wrote, or an entity tag that is not the body's (httpserve's tags
// are the first 16 bytes of the SHA-256 digest, in hex). It returns the version's name ("8m.bin
// v3") when all is well.
func (s *Site) Check(f File, body []byte, etag string) (string, error) {
	if len(body) != f.Size {
		return "", fmt.Errorf("%s: %d bytes, want %d", f.Name, len(body), f.Size)
	}
	sum := sha256.Sum256(body)
	d := hex.EncodeToString(sum[:])
	s.mu.Lock()
	version, ok := s.digests[d]
	s.mu.Unlock()
	if !ok || !strings.HasPrefix(version, f.Name+" ") {
		return "", fmt.Errorf("%s: the body (starting %q) is no version of the file: two versions mixed", f.Name, firstLine(body))
	}
	if want := `"` + d[:32] + `"`; etag != want {
		return "", fmt.Errorf("%s: entity tag %s belongs to another body than %s's %s", f.Name, etag, version, want)
	}
	return version, nil
}

// firstLine returns the start of b up to its first newline, at most 40 bytes.
func firstLine(b []byte) string {
	b = b[:min(len(b), 40)]
	if i := strings.IndexByte(string(b), '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
