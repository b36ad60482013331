package httpserve

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// sendfileMin is the smallest body a kernel TCP connection is sent from a sealed file with
// sendfile(2) rather than copied into the socket by writev. Below it the copy costs less than
// the second system call: the head then goes with MSG_MORE and the body with sendfile, two
// calls where writev takes one.
const sendfileMin = 32 << 10

// sendfileMax is the largest body sent with sendfile(2); larger ones are copied by writev.
// Measured on a quiet machine against nginx over loopback (bench/results of 2026-12-07 against
// the run before it): sendfile from the sealed file lifted 64 KiB × 500 from 0.82× to 1.06×
// nginx, but made 1 MiB bodies slower at one and 50 connections (0.90× → 0.60×, 2.36× → 1.08×),
// where the memfd's per-page work costs more than the copy it saves. Checked again with the
// head and body under one wait and the raw read, on a loaded machine, the server alone on
// one core and its samples counted by perf: a 1 MiB body to one connection cost the server
// 317–379 µs by the copy and 608–687 µs by sendfile in three interleaved rounds (wrk's CPU
// too was lower with the copy), so the copy stays.
const sendfileMax = 512 << 10

// defaultMaxSealed is how many sealed body files a Server keeps open at once, each a file
// descriptor: a site with more large files than that has the rest written, rather than
// leaving the listener no descriptor to accept with.
const defaultMaxSealed = 4096

// sealBudget counts a Server's open sealed body files against its bound.
type sealBudget struct {
	max  int64 // set before the server serves
	open atomic.Int64
}

// sealedRef is what closes a sealed file when its variant is collected, and gives its place
// in the budget back.
type sealedRef struct {
	f      *os.File
	budget *sealBudget
}

// bodyFile holds a variant's body in a sealed in-memory file (see sealBody), made the first
// time the body is sent to a kernel TCP connection. sendfile(2) from it puts references to
// the file's pages in the socket instead of copying the bytes, as a server sending from the
// page cache does; the seals keep the pages from changing while segments still refer to them.
// The file is a second copy of the body, in the kernel's shared memory rather than the Go
// heap, and lives as long as the variant: it is closed when the variant is collected. Bodies
// of variants never sent to a kernel connection (a netstack Stack's, TLS) get none, nor do
// those first sent while the server's bound of sealed files is open (they are written for as
// long as their content is served).
//
// One file per variant, rather than one per site holding every body at page-aligned offsets,
// costs no more per response: the memfd's share of a sendfile (about 7% of the server's CPU
// at 64 KiB × 500, shmem_file_splice_read with a page-cache lookup and a folio lock per
// page) is per page, whichever file the page is in, and a 64 KiB body sent from a 64 MiB
// memfd cost the same as from its own (16–18 µs a send in a loopback microbenchmark, both).
type bodyFile struct {
	once sync.Once
	f    *os.File // nil when the platform or the kernel refused one: the body is copied
}

// file returns the sealed file holding v's whole body, making it on the first call within
// budget, or nil.
func (b *bodyFile) file(v *variant, budget *sealBudget) *os.File {
	b.once.Do(func() {
		if budget.open.Add(1) > budget.max {
			budget.open.Add(-1)
			return
		}
		if b.f = sealBody(v.data); b.f == nil {
			budget.open.Add(-1)
			return
		}
		runtime.AddCleanup(v, closeSealed, sealedRef{b.f, budget})
	})
	return b.f
}

// closeSealed closes a sealed body file whose variant is gone.
func closeSealed(r sealedRef) {
	r.f.Close()
	r.budget.open.Add(-1)
}
