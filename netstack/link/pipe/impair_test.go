package pipe

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

const impairFrames = 20000

// runImpaired sends impairFrames numbered frames of 60..1514 bytes from a to b in batches of
// 32 and returns what b received once the pipe is quiet, together with what was sent.
func runImpaired(t *testing.T, im Impairments) (sent, got [][]byte, a, b *Link) {
	t.Helper()
	a, b = newPair(t, &Config{Impair: im, QueueDepth: 512})
	rb := newRecorder(b)
	require.NoError(t, b.Start(rb))
	batch := make([]link.Frame, 32)
	for i := 0; i < impairFrames; i += len(batch) {
		for j := range batch {
			f := testFrame(a.MAC(), b.MAC(), uint32(i+j), 60+(i+j)*7%1455)
			sent = append(sent, f)
			batch[j] = link.Frame{Segments: [][]byte{f}}
		}
		n, err := a.Transmit(batch)
		require.NoError(t, err)
		require.Equal(t, len(batch), n)
	}
	return sent, frameData(rb.Settle(50 * time.Millisecond)), a, b
}

// requireRate checks that count events out of n happened at probability p, within 5 standard
// deviations of a binomial distribution (with a fixed seed the check is deterministic; the
// wide margin only keeps it independent of the particular seed).
func requireRate(t *testing.T, what string, count, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	require.InDelta(t, mean, float64(count), 5*sd, "%s: %d of %d, want about %.0f", what, count, n, mean)
	t.Logf("%s: %d of %d (expected %.0f)", what, count, n, mean)
}

func TestImpairLoss(t *testing.T) {
	sent, got, a, b := runImpaired(t, Impairments{Seed: 1, Loss: 0.05})
	lost := len(sent) - len(got)
	requireRate(t, "lost", lost, len(sent), 0.05)
	require.Equal(t, uint64(lost), a.Stats().TxDropped)
	require.Equal(t, uint64(len(got)), b.Stats().RxFrames)
	// The survivors are intact and in order.
	last := -1
	for _, f := range got {
		s := int(seqOf(f))
		require.Greater(t, s, last)
		require.True(t, bytes.Equal(sent[s], f))
		last = s
	}
}

func TestImpairDuplicate(t *testing.T) {
	sent, got, _, _ := runImpaired(t, Impairments{Seed: 2, Duplicate: 0.05})
	dups := len(got) - len(sent)
	requireRate(t, "duplicated", dups, len(sent), 0.05)
	// Every frame arrives, each duplicate right after its original.
	want := 0
	for i, f := range got {
		s := int(seqOf(f))
		require.True(t, bytes.Equal(sent[s], f))
		if i > 0 && bytes.Equal(got[i-1], f) {
			continue
		}
		require.Equal(t, want, s)
		want++
	}
	require.Equal(t, len(sent), want)
}

func TestImpairReorder(t *testing.T) {
	sent, got, _, _ := runImpaired(t, Impairments{Seed: 3, Reorder: 0.05})
	require.Len(t, got, len(sent), "reordering loses nothing")
	seen := make([]bool, len(sent))
	late := 0
	for i, f := range got {
		s := int(seqOf(f))
		require.False(t, seen[s], "frame %d twice", s)
		seen[s] = true
		require.True(t, bytes.Equal(sent[s], f))
		if i+1 < len(got) && int(seqOf(got[i+1])) < s {
			late++ // the next frame overtook this one
		}
	}
	// A frame held back while another is held is not reordered, which lowers the rate by
	// about p^2; within the margin.
	requireRate(t, "reordered", late, len(sent), 0.05)
}

func TestImpairReorderWindow(t *testing.T) {
	a, b := newPair(t, &Config{Impair: Impairments{Seed: 4, Reorder: 1, ReorderWindow: 20 * time.Millisecond}})
	rb := newRecorder(b)
	require.NoError(t, b.Start(rb))
	start := time.Now()
	_, err := a.Transmit([]link.Frame{{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), 0, 60)}}})
	require.NoError(t, err)
	rb.WaitFrames(t, 1)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond,
		"a lone reordered frame waits for the window")
}

func TestImpairCorrupt(t *testing.T) {
	sent, got, _, _ := runImpaired(t, Impairments{Seed: 5, Corrupt: 0.05})
	require.Len(t, got, len(sent))
	corrupted := 0
	for i, f := range got {
		diff := 0
		for j := range f {
			if f[j] != sent[i][j] {
				diff++
				require.GreaterOrEqual(t, j, link.EthernetHeaderLen, "Ethernet header untouched")
			}
		}
		require.LessOrEqual(t, diff, 1, "at most one byte flipped")
		corrupted += diff
	}
	requireRate(t, "corrupted", corrupted, len(sent), 0.05)
}

// TestImpairCorruptOffload checks that a corrupted frame that carried offload flags arrives
// with a finalized checksum and no flags, so that the receiver verifies it and finds it wrong.
func TestImpairCorruptOffload(t *testing.T) {
	feat := link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureRxCsum | link.FeatureRxGRO
	a, b := newPair(t, &Config{Features: feat, Impair: Impairments{Seed: 6, Corrupt: 1}})
	rb := newRecorder(b)
	require.NoError(t, b.Start(rb))

	f := testFrame(a.MAC(), b.MAC(), 1, 30000)
	const start, offset, pseudo = 34, 16, 0x4321
	binary.BigEndian.PutUint16(f[start+offset:], pseudo)
	off := link.Offload{Flags: link.FlagNeedsCsum, GSOType: link.GSOTCPv4,
		HdrLen: 66, GSOSize: 1448, CsumStart: start, CsumOffset: offset}
	_, err := a.Transmit([]link.Frame{{Segments: [][]byte{f}, Offload: off}})
	require.NoError(t, err)
	got := rb.WaitFrames(t, 1)[0]
	g, o := got.Data, got.Offload
	require.Zero(t, o.Flags, "no flag lets the receiver skip verification")
	require.Equal(t, link.GSOTCPv4, o.GSOType, "GSO metadata kept")

	verifies := func(b []byte) bool {
		s := uint32(link.Checksum(b[start:], 0)) + pseudo
		s = s>>16 + s&0xffff
		return s == 0xffff
	}
	require.False(t, verifies(g), "the corrupted frame fails its checksum")
	// Undo the flip: the checksum the pipe finalized is right for the original bytes.
	for j := range g {
		if g[j] != f[j] && (j < start+offset || j >= start+offset+2) {
			g[j] = f[j]
		}
	}
	require.True(t, verifies(g), "checksum finalized before the flip")
}

func TestImpairSameSeedSameDecisions(t *testing.T) {
	// A reordered frame waits for the next frame, or for the window, which depends on timing:
	// a long window leaves only the frames to decide.
	im := Impairments{Seed: 42, Loss: 0.02, Duplicate: 0.02, Reorder: 0.02, Corrupt: 0.02,
		ReorderWindow: time.Hour}
	_, got1, _, _ := runImpaired(t, im)
	_, got2, _, _ := runImpaired(t, im)
	require.Equal(t, len(got1), len(got2))
	for i := range got1 {
		require.True(t, bytes.Equal(got1[i], got2[i]), "frame %d differs between runs", i)
	}
	im.Seed = 43
	_, got3, _, _ := runImpaired(t, im)
	same := len(got1) == len(got3)
	for i := 0; same && i < len(got1); i++ {
		same = bytes.Equal(got1[i], got3[i])
	}
	require.False(t, same, "another seed gives other decisions")
}

func TestImpairDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	a, b := newPair(t, &Config{Impair: Impairments{Delay: delay}})
	rb := newRecorder(b)
	require.NoError(t, b.Start(rb))
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, err := a.Transmit([]link.Frame{{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), uint32(i), 60)}}})
		require.NoError(t, err)
		rb.WaitFrames(t, i+1)
		require.GreaterOrEqual(t, time.Since(start), delay)
	}
}

func TestImpairRate(t *testing.T) {
	const rate = 2_000_000 // bytes/s
	a, b := newPair(t, &Config{Impair: Impairments{Rate: rate}})
	rb := newRecorder(b)
	require.NoError(t, b.Start(rb))
	batch := make([]link.Frame, 10)
	for i := range batch {
		batch[i] = link.Frame{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), uint32(i), 1000)}}
	}
	start := time.Now()
	for i := 0; i < 20; i++ { // 200 kB: 100 ms at 2 MB/s
		_, err := a.Transmit(batch)
		require.NoError(t, err)
	}
	rb.WaitFrames(t, 200)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond,
		"200 kB cannot cross a 2 MB/s pipe faster")
}

// FuzzTransmit sends arbitrary frames with arbitrary offload metadata through a pipe that
// corrupts every frame and finalizes checksums for a receiver without checksum offload: no
// input may panic, and what arrives has the length that was sent.
func FuzzTransmit(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint8(0), uint16(0), uint16(0))
	f.Add(make([]byte, 60), uint8(link.FlagNeedsCsum), uint8(link.GSOTCPv4), uint16(34), uint16(16))
	f.Add(make([]byte, 15), uint8(3), uint8(0x85), uint16(14), uint16(0xffff))
	f.Add(make([]byte, 1514), uint8(link.FlagNeedsCsum), uint8(0), uint16(1512), uint16(0))
	f.Fuzz(func(t *testing.T, frame []byte, flags, gso uint8, start, offset uint16) {
		for _, feat := range []link.Features{link.FeatureTxCsum,
			link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureRxCsum | link.FeatureRxGRO} {
			a, b, err := New(&Config{Features: feat, Impair: Impairments{Seed: 1, Corrupt: 1}})
			require.NoError(t, err)
			rb := newRecorder(b)
			require.NoError(t, b.Start(rb))
			off := link.Offload{Flags: link.OffloadFlags(flags), GSOType: link.GSOType(gso),
				CsumStart: start, CsumOffset: offset}
			n, err := a.Transmit([]link.Frame{{Segments: [][]byte{frame}, Offload: off}})
			if err == nil {
				require.Equal(t, 1, n)
				require.Len(t, rb.WaitFrames(t, 1)[0].Data, len(frame))
			} else {
				require.ErrorIs(t, err, link.ErrFrameTooLarge)
			}
			a.Close()
			b.Close()
		}
	})
}
