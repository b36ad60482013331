//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import (
	"errors"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/xenfront/xenstore"
	"github.com/unikit/unikit/xenfront/xentest"
)

// xenbusDesign puts a xenstore.Store on the model of /dev/xen/xenbus and returns it with its
// Close and the files it opened: the request file first.
type xenbusDesign struct {
	name string
	open func(x *fakeXenbus) (xenstore.Store, func() error, []*fakeXenbusFile)
}

var xenbusDesigns = []xenbusDesign{
	{"one file", func(x *fakeXenbus) (xenstore.Store, func() error, []*fakeXenbusFile) {
		// What OpenStore returned before: one xenstore.Client for everything.
		f := x.open()
		c := xenstore.NewClient(f)
		return c, c.Close, []*fakeXenbusFile{f}
	}},
	{"watch file", func(x *fakeXenbus) (xenstore.Store, func() error, []*fakeXenbusFile) {
		req, w := x.open(), x.open()
		s := newStore(req, w)
		return s, s.Close, []*fakeXenbusFile{req, w}
	}},
}

const statePath = "device/vif/0/state"

func newXenbusModel(t *testing.T) *fakeXenbus {
	h := xentest.New()
	require.NoError(t, h.Domain(5).Store().Write(0, statePath, "1"))
	x := newFakeXenbus(h)
	t.Cleanup(x.Close)
	return x
}

// TestXenbusWatchWhileReadOutstanding replays, in the model of the kernel driver, the hang
// seen against real netback: XS_WATCH (or XS_UNWATCH) written while replies to Reads are
// still to come. On one file the kthread needs the msgbuffer_mutex the watch request holds
// while it waits for the kthread: the model finds the cycle. With Store's watch file, the
// same sequence completes.
func TestXenbusWatchWhileReadOutstanding(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { leaktest.Settle(t, before) })
	const reads = 3
	for _, d := range xenbusDesigns {
		for _, op := range []string{"watch", "unwatch"} {
			t.Run(d.name+"/"+op, func(t *testing.T) {
				x := newXenbusModel(t)
				st, closeStore, _ := d.open(x)
				defer closeStore()

				var existing *xenstore.Watch
				if op == "unwatch" {
					w, err := st.Watch(statePath)
					require.NoError(t, err)
					<-w.C // the initial event
					existing = w
				}

				// Hold xenstored's input so the Reads are outstanding for sure.
				x.pause(true)
				readErrs := make(chan error, reads)
				for range reads {
					go func() {
						v, err := st.Read(0, statePath)
						if err == nil && v != "1" {
							err = errors.New("read " + v)
						}
						readErrs <- err
					}()
				}
				require.Eventually(t, func() bool { return x.queued() == reads }, 2*time.Second, time.Millisecond)

				watchErr := make(chan error, 1)
				go func() {
					if op == "unwatch" {
						watchErr <- existing.Close()
						return
					}
					w, err := st.Watch(statePath)
					if err == nil {
						select {
						case <-w.C:
						case <-time.After(2 * time.Second):
							err = errors.New("no initial watch event")
						}
						w.Close()
					}
					watchErr <- err
				}()
				// The kernel's own XS_WATCH/XS_UNWATCH is queued behind the Reads: the writer
				// now holds its file's msgbuffer_mutex and waits in xs_talkv.
				require.Eventually(t, func() bool { return x.queued() == reads+1 }, 2*time.Second, time.Millisecond)
				x.pause(false)

				var errs []error
				for range reads {
					errs = append(errs, <-readErrs)
				}
				errs = append(errs, <-watchErr)
				if d.name == "one file" {
					require.Contains(t, x.deadlocked(), "msgbuffer_mutex")
					for _, err := range errs[:reads] {
						require.ErrorIs(t, err, syscall.EDEADLK)
					}
					return
				}
				require.Empty(t, x.deadlocked())
				for _, err := range errs {
					require.NoError(t, err)
				}
			})
		}
	}
}

// TestXenbusConcurrentStore drives each design from several goroutines at once, as netfront
// does (Reads, Watch and Close of watches, transactions): on one file the model finds the
// deadlock; with the watch file every operation succeeds, no watch request goes to the request
// file and nothing else to the watch file, and transactions work as the driver tracks them per
// file.
func TestXenbusConcurrentStore(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { leaktest.Settle(t, before) })
	for _, d := range xenbusDesigns {
		t.Run(d.name, func(t *testing.T) {
			x := newXenbusModel(t)
			st, closeStore, files := d.open(x)
			defer closeStore()

			var wg sync.WaitGroup
			errs := make(chan error, 16)
			run := func(n int, op func(i int) error) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range n {
						if err := op(i); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for range 4 {
				run(100, func(int) error {
					_, err := st.Read(0, statePath)
					return err
				})
			}
			for range 2 {
				run(20, func(int) error {
					w, err := st.Watch(statePath)
					if err != nil {
						return err
					}
					defer w.Close()
					select {
					case <-w.C:
						return nil
					case <-time.After(2 * time.Second):
						return errors.New("no initial watch event")
					}
				})
			}
			run(10, func(i int) error {
				for {
					tx, err := st.Start()
					if err != nil {
						return err
					}
					if err := st.Write(tx, "data/n", "x"); err != nil {
						return err
					}
					if err := st.End(tx, true); !errors.Is(err, xenstore.ErrAgain) {
						return err
					}
				}
			})
			wg.Wait()
			close(errs)
			var first error
			for err := range errs {
				first = cmp(first, err)
			}

			if d.name == "one file" {
				require.Contains(t, x.deadlocked(), "msgbuffer_mutex")
				require.ErrorIs(t, first, syscall.EDEADLK)
				return
			}
			require.Empty(t, x.deadlocked())
			require.NoError(t, first)
			assert.Zero(t, files[0].watchReqs.Load(), "XS_WATCH/XS_UNWATCH on the request file")
			assert.Zero(t, files[1].otherReqs.Load(), "other requests on the watch file")
			assert.Equal(t, int64(80), files[1].watchReqs.Load())
		})
	}
}

// cmp returns the first non-nil error of a and b.
func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
