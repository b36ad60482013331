package httpserve

import (
	"os"
	"sync"
)

// sendfileMin is the smallest body a kernel TCP connection is sent from a sealed file with
// sendfile(2) rather than copied into the socket by writev. Below it the copy costs less than
// the second system call: the head then goes with MSG_MORE and the body with sendfile, two
// calls where writev takes one.
const sendfileMin = 32 << 10

// bodyFile holds a variant's body in a sealed in-memory file (see sealBody), made the first
// time the body is sent to a kernel TCP connection. sendfile(2) from it puts references to
// the file's pages in the socket instead of copying the bytes, as a server sending from the
// page cache does; the seals keep the pages from changing while segments still refer to them.
// The file is a second copy of the body, in the kernel's shared memory rather than the Go
// heap, and lives as long as the variant (the *os.File closes it when it is collected). Bodies
// of variants never sent to a kernel connection (a netstack Stack's, TLS) get none.
type bodyFile struct {
	once sync.Once
	f    *os.File // nil when the platform or the kernel refused one: the body is copied
}

// file returns the sealed file holding data (the variant's whole body), making it on the
// first call, or nil.
func (b *bodyFile) file(data []byte) *os.File {
	b.once.Do(func() { b.f = sealBody(data) })
	return b.f
}
