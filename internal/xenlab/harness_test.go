package xenlab

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/unikit/unikit/guest"
)

// TestDomUConfigCarriesArgs checks that the domU's flags reach its kernel command line in
// the form the guest runtime decodes, with the placeholder dom0's init replaces intact.
func TestDomUConfigCarriesArgs(t *testing.T) {
	cfg := domUConfig([]string{"-ip", "192.168.0.2/24", "-probe-queues", ProbePlaceholder})
	m := regexp.MustCompile(`(?m)^extra = "(.*)"$`).FindStringSubmatch(cfg)
	require.NotNil(t, m, cfg)
	require.Contains(t, m[1], ProbePlaceholder)
	require.Contains(t, cfg, "mac="+DomUMAC+",bridge=xenbr0")
	// dom0's init writes the knob's commas as %2C.
	args, err := guest.CmdlineArgs(regexp.MustCompile(ProbePlaceholder).ReplaceAllString(m[1], "2%2C1"))
	require.NoError(t, err)
	require.Equal(t, []string{"-ip", "192.168.0.2/24", "-probe-queues", "2,1"}, args)
}

// TestResultFind checks the parsing of console lines: markers in the middle of a line (the
// domU's lines come prefixed), carriage returns, and dom0's end line.
func TestResultFind(t *testing.T) {
	r := &Result{Lines: []string{
		"[  1.0] Booting Linux",
		"DOMU| XENLAB-DOMU probe queues=2 connected\r",
		"XENLAB page PASS",
		"XENLAB end",
	}}
	require.Equal(t, []string{"XENLAB-DOMU probe queues=2 connected"}, r.Find(DomUMarker))
	require.Equal(t, []string{"XENLAB page PASS", "XENLAB end"}, r.Find(Marker))
	require.True(t, r.Ended())
	require.False(t, (&Result{Lines: r.Lines[:3]}).Ended())
}

// TestArchiveCopiesTrees writes a tree with a file, a symbolic link and a nested directory,
// and reads the archive back.
func TestArchiveCopiesTrees(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "a/b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "a/b/f"), []byte("data"), 0o750))
	require.NoError(t, os.Symlink("b/f", filepath.Join(src, "a/l")))
	var buf bytes.Buffer
	a := newArchive(&buf)
	require.NoError(t, a.copy(src, "x/y"))
	require.NoError(t, a.file("init", []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, a.close())

	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(buf.Bytes())))
	require.NoError(t, err)
	got := map[string]cpio.Record{}
	for _, r := range recs {
		got[r.Name] = r
	}
	for _, d := range []string{"x", "x/y", "x/y/a", "x/y/a/b"} {
		require.Equal(t, uint64(cpio.S_IFDIR), got[d].Mode&cpio.S_IFMT, d)
	}
	f := got["x/y/a/b/f"]
	require.Equal(t, uint64(cpio.S_IFREG|0o750), f.Mode)
	data, err := io.ReadAll(io.NewSectionReader(f.ReaderAt, 0, int64(f.FileSize)))
	require.NoError(t, err)
	require.Equal(t, "data", string(data))
	l := got["x/y/a/l"]
	require.Equal(t, uint64(cpio.S_IFLNK), l.Mode&cpio.S_IFMT)
	require.Equal(t, uint64(cpio.S_IFREG|0o755), got["init"].Mode)
}
