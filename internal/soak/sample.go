//go:build linux

package soak

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// Sample is the appliance's state at one moment.
type Sample struct {
	// T is the time since sampling began, in seconds.
	T float64 `json:"t"`
	// RSS is the process's resident memory in bytes.
	RSS int64 `json:"rss"`
	// Goroutines, Heap (heap objects, live or not yet swept) and Conns (the stack's
	// established TCP connections) are from its debug listener.
	Goroutines uint64 `json:"goroutines"`
	Heap       uint64 `json:"heap"`
	Conns      uint64 `json:"conns"`
}

// Sampler samples an appliance at a fixed interval in the background.
type Sampler struct {
	a     *Appliance
	every time.Duration
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	samples []Sample
	err     error
}

// StartSampler samples a now and then every interval until Stop.
func StartSampler(a *Appliance, every time.Duration) *Sampler {
	s := &Sampler{a: a, every: every, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	s.take()
	go s.run()
	return s
}

func (s *Sampler) run() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.take()
		}
	}
}

// take records one sample, or the first error of reading one.
func (s *Sampler) take() {
	smp, err := s.a.sample(time.Since(s.start))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.samples = append(s.samples, smp)
}

// Stop takes a last sample, ends sampling and returns the samples, or the first error.
func (s *Sampler) Stop() ([]Sample, error) {
	close(s.stop)
	<-s.done
	s.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.err
}

// sample reads the appliance's state.
func (a *Appliance) sample(at time.Duration) (Sample, error) {
	st, err := a.Stats()
	if err != nil {
		return Sample{}, err
	}
	rss, err := readRSS(a.PID)
	if err != nil {
		return Sample{}, err
	}
	return Sample{T: at.Seconds(), RSS: rss, Goroutines: st.Goroutines, Heap: st.HeapObjects, Conns: st.TCPEstablished}, nil
}

// Now samples the appliance once.
func (a *Appliance) Now(t testing.TB) Sample {
	t.Helper()
	s, err := a.sample(0)
	if err != nil {
		t.Fatalf("sampling the %s appliance: %v", a.net.Name, err)
	}
	return s
}

// Flatness is the verdict on a series of samples taken under steady load: after the warm-up,
// the rest is split into halves, and the series is flat when
//
//   - the second half's mean resident memory exceeds the first half's by at most
//     max(RSSSlackBytes, RSSSlackShare of the first half's mean), and
//   - the second half's median goroutine count exceeds the first half's by at most
//     max(GoroutineSlack, GoroutineSlackShare of the first half's median).
//
// A leak of memory or goroutines grows the second half beyond the first; noise, a heap that
// breathes between collections, and the goroutines gVisor's timers start for a moment (dozens
// at once under load, hence medians) stay within the slack.
//
// FloorFlat is the same verdict on each half's least resident memory and least goroutine
// count, with the same slack: the floor a leak raises, which the moments a loaded machine
// stretches (a collection that comes late, timers' goroutines that pile up while the process
// waits for a core) do not. The short soak, a few samples long on a shared machine, is judged by
// it; the full soak by both.
type Flatness struct {
	WarmUp            float64 `json:"warm_up_s"`
	Samples           int     `json:"samples"` // after the warm-up
	RSSFirst          float64 `json:"rss_first_mean"`
	RSSSecond         float64 `json:"rss_second_mean"`
	RSSAllowed        float64 `json:"rss_allowed_growth"`
	GoroutinesFirst   uint64  `json:"goroutines_first_median"`
	GoroutinesSecond  uint64  `json:"goroutines_second_median"`
	GoroutinesAllowed uint64  `json:"goroutines_allowed_growth"`
	Flat              bool    `json:"flat"`

	RSSFirstMin         int64  `json:"rss_first_min"`
	RSSSecondMin        int64  `json:"rss_second_min"`
	GoroutinesFirstMin  uint64 `json:"goroutines_first_min"`
	GoroutinesSecondMin uint64 `json:"goroutines_second_min"`
	FloorFlat           bool   `json:"floor_flat"`
}

// The slack of Flatness.
const (
	RSSSlackBytes       = 8 << 20
	RSSSlackShare       = 0.10
	GoroutineSlack      = 16
	GoroutineSlackShare = 0.10
)

// Judge returns the flatness of samples after a warm-up of warmUp seconds; it needs at least
// four samples after the warm-up.
func Judge(samples []Sample, warmUp float64) (Flatness, error) {
	var rest []Sample
	for _, s := range samples {
		if s.T >= warmUp {
			rest = append(rest, s)
		}
	}
	f := Flatness{WarmUp: warmUp, Samples: len(rest)}
	if len(rest) < 4 {
		return f, fmt.Errorf("%d samples after a warm-up of %.0f s: too few to judge", len(rest), warmUp)
	}
	first, second := rest[:len(rest)/2], rest[len(rest)/2:]
	mean := func(ss []Sample) float64 {
		var sum float64
		for _, s := range ss {
			sum += float64(s.RSS)
		}
		return sum / float64(len(ss))
	}
	median := func(ss []Sample) uint64 {
		g := make([]uint64, len(ss))
		for i, s := range ss {
			g[i] = s.Goroutines
		}
		slices.Sort(g)
		return g[len(g)/2]
	}
	f.RSSFirst, f.RSSSecond = mean(first), mean(second)
	f.RSSAllowed = math.Max(RSSSlackBytes, RSSSlackShare*f.RSSFirst)
	f.GoroutinesFirst, f.GoroutinesSecond = median(first), median(second)
	f.GoroutinesAllowed = max(GoroutineSlack, uint64(GoroutineSlackShare*float64(f.GoroutinesFirst)))
	f.Flat = f.RSSSecond-f.RSSFirst <= f.RSSAllowed && f.GoroutinesSecond <= f.GoroutinesFirst+f.GoroutinesAllowed
	f.RSSFirstMin, f.GoroutinesFirstMin = floor(first)
	f.RSSSecondMin, f.GoroutinesSecondMin = floor(second)
	f.FloorFlat = float64(f.RSSSecondMin-f.RSSFirstMin) <= f.RSSAllowed && f.GoroutinesSecondMin <= f.GoroutinesFirstMin+f.GoroutinesAllowed
	return f, nil
}

// floor returns the least resident memory and the least goroutine count among samples.
func floor(samples []Sample) (int64, uint64) {
	rss, g := samples[0].RSS, samples[0].Goroutines
	for _, s := range samples[1:] {
		rss, g = min(rss, s.RSS), min(g, s.Goroutines)
	}
	return rss, g
}

// String says what the verdict rests on.
func (f Flatness) String() string {
	return fmt.Sprintf("after %.0f s of warm-up, %d samples: mean RSS %.1f → %.1f MiB, least %.1f → %.1f (allowed +%.1f); median goroutines %d → %d, least %d → %d (allowed +%d)",
		f.WarmUp, f.Samples, f.RSSFirst/(1<<20), f.RSSSecond/(1<<20), mib(f.RSSFirstMin), mib(f.RSSSecondMin), f.RSSAllowed/(1<<20),
		f.GoroutinesFirst, f.GoroutinesSecond, f.GoroutinesFirstMin, f.GoroutinesSecondMin, f.GoroutinesAllowed)
}
