package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/vmimage"
)

// vmNet is one way an appliance reaches the VM's virtio-net-pci device.
type vmNet struct {
	name string   // sub-benchmark name
	args []string // appliance flags
}

// vmNets are the two paths the VM benchmark compares: our virtio driver and stack (the
// default in a guest) and Linux's own virtio_net and kernel sockets.
var vmNets = []vmNet{{"ours", nil}, {"kernel", []string{"-net", "kernel"}}}

// vmMemories are the guest memory sizes the benchmark tries, in MiB, largest first, to find
// the smallest that serves the blog.
var vmMemories = []int{512, 256, 192, 128, 96, 64}

// vmBulkMiB is how much one bulk TCP transfer moves each way.
const vmBulkMiB = 32

// vmFigures are what one path measured.
type vmFigures struct {
	bootMs             []float64 // QEMU start to the blog's first 200
	reqPerSec, p99Ms   []float64 // 4 KiB pages through the forward
	downMBs, upMBs     []float64 // bulk TCP guest → host and host → guest
	minMiB             float64   // smallest memory that served the blog
	initrdMiB, diskMiB float64
}

// BenchmarkVM compares our virtio-net driver and stack with Linux's in-guest path in the same
// VM set-up: qemu-system-x86_64 under TCG (KVM is not available where it was written), one
// virtio-net-pci device on QEMU's user-mode network, the host reaching the guest's port 80
// through hostfwd. For each path it builds examples/blog and testdata/vmload (the same
// handlers whatever -net says) with unikit image, and then, the paths interleaved:
//
//   - boot/PATH: QEMU start to the blog's first 200, in ms;
//   - http4k/PATH: 4 KiB pages from vmload with wrk, 50 connections, through the forward;
//   - bulk/PATH: 32 MiB of TCP from the guest to the host and back through the forward, MB/s,
//     each checked with SHA-256;
//   - memory/PATH: the smallest -m of 512, 256, 192, 128, 96 and 64 MiB with which the blog
//     still serves;
//   - size/PATH: initrd.img and disk.img of the blog, MiB.
//
// Run it with -benchtime 1x: each sub-benchmark reports what the interleaved rounds (b.N of
// the parent, one per -count) measured.
func BenchmarkVM(b *testing.B) {
	if testing.Short() {
		b.Skip("boots virtual machines under TCG")
	}
	peers.Program(b, "qemu-system-x86_64", "qemu-system-x86")
	peers.Program(b, "wrk", "wrk")
	requireImageTools(b, vmimage.AMD64)

	figs := make([]vmFigures, len(vmNets))
	blogs := make([]string, len(vmNets))
	loads := make([]string, len(vmNets))
	for i, n := range vmNets {
		blogs[i] = buildImage(b, "github.com/unikit/unikit/examples/blog", n.args...)
		loads[i] = buildImage(b, "./testdata/vmload", n.args...)
		figs[i].initrdMiB = fileMiB(b, filepath.Join(blogs[i], vmimage.InitrdFile))
		figs[i].diskMiB = fileMiB(b, filepath.Join(blogs[i], vmimage.DiskFile))
	}
	for range b.N {
		for i, n := range vmNets {
			b.Logf("%s: booting the blog", n.name)
			figs[i].bootMs = append(figs[i].bootMs, vmBoot(b, blogs[i]))
			b.Logf("%s: loading vmload", n.name)
			vmLoad(b, loads[i], &figs[i])
		}
	}
	for i, n := range vmNets {
		figs[i].minMiB = vmMinMemory(b, n.name, blogs[i])
	}

	for i, n := range vmNets {
		f := &figs[i]
		b.Run("boot/"+n.name, func(b *testing.B) { b.ReportMetric(median(f.bootMs), "ms-to-200") })
		b.Run("http4k/"+n.name, func(b *testing.B) {
			b.ReportMetric(median(f.reqPerSec), "req/s")
			if len(f.p99Ms) > 0 { // rounds whose latency Check withheld have none
				b.ReportMetric(median(f.p99Ms), "p99-ms")
			}
		})
		b.Run("bulk/"+n.name, func(b *testing.B) {
			b.ReportMetric(median(f.downMBs), "guest-to-host-MB/s")
			b.ReportMetric(median(f.upMBs), "host-to-guest-MB/s")
		})
		b.Run("memory/"+n.name, func(b *testing.B) { b.ReportMetric(f.minMiB, "min-MiB") })
		b.Run("size/"+n.name, func(b *testing.B) {
			b.ReportMetric(f.initrdMiB, "initrd-MiB")
			b.ReportMetric(f.diskMiB, "disk-MiB")
		})
	}
}

// vmBoot boots the blog image in dir and returns the milliseconds from QEMU's start to its
// first 200, after powering the guest off.
func vmBoot(b *testing.B, dir string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	g, _, err := bootServing(ctx, b, dir, "", "/about/")
	require.NoError(b, err)
	require.NoError(b, g.powerOff(ctx))
	return float64(g.firstOK) / float64(time.Millisecond)
}

// vmLoad boots the vmload image in dir and measures 4 KiB requests and bulk TCP into f.
func vmLoad(b *testing.B, dir string, f *vmFigures) {
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+5*time.Minute)
	defer cancel()
	g, _, err := bootServing(ctx, b, dir, "", "/4k")
	require.NoError(b, err)
	defer func() {
		require.NoError(b, g.powerOff(ctx))
	}()

	r, out := httpload.Run(b, httpload.Load{URL: g.url + "/4k", Conns: 50, Duration: httpload.Seconds(5 * time.Second)})
	r = httpload.Check(b, r, out, 4096, 50)
	f.reqPerSec = append(f.reqPerSec, r.ReqPerSec)
	if r.LatencyWithheld == "" {
		f.p99Ms = append(f.p99Ms, float64(r.P99)/float64(time.Millisecond))
	}

	client := &http.Client{Timeout: 5 * time.Minute}
	start := time.Now()
	resp, err := client.Get(fmt.Sprintf("%s/bulk?mib=%d", g.url, vmBulkMiB))
	require.NoError(b, err)
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	require.NoError(b, err)
	down := time.Since(start)
	require.Equal(b, int64(vmBulkMiB<<20), n)
	require.Equal(b, resp.Trailer.Get("X-Sha256"), hex.EncodeToString(h.Sum(nil)), "the guest sent what the host received")
	f.downMBs = append(f.downMBs, float64(n)/1e6/down.Seconds())

	body := make([]byte, vmBulkMiB<<20)
	for i := range body {
		body[i] = byte(i*131 + i>>8)
	}
	sum := sha256.Sum256(body)
	start = time.Now()
	resp, err = client.Post(g.url+"/sink", "application/octet-stream", bytes.NewReader(body))
	require.NoError(b, err)
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	up := time.Since(start)
	require.NoError(b, err)
	require.Equal(b, fmt.Sprintf("%d %s\n", len(body), hex.EncodeToString(sum[:])), string(reply), "the guest received what the host sent")
	f.upMBs = append(f.upMBs, float64(len(body))/1e6/up.Seconds())
	b.Logf("%.0f req/s, p99 %v; bulk %.1f MB/s down, %.1f MB/s up", r.ReqPerSec, r.P99,
		f.downMBs[len(f.downMBs)-1], f.upMBs[len(f.upMBs)-1])
}

// vmMinMemory boots the blog image in dir with less and less memory (vmMemories) and returns
// the smallest size, in MiB, with which it served.
func vmMinMemory(b *testing.B, name, dir string) float64 {
	least := 0
	for _, mib := range vmMemories {
		ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
		g, _, err := bootServing(ctx, b, dir, strconv.Itoa(mib)+"M", "/about/")
		if err == nil {
			err = g.powerOff(ctx)
		}
		cancel()
		if err != nil {
			b.Logf("%s: -m %dM does not serve the blog: %v", name, mib, err)
			break
		}
		b.Logf("%s: -m %dM serves the blog", name, mib)
		least = mib
	}
	require.NotZero(b, least, "%s: the blog serves with none of the memory sizes %v MiB", name, vmMemories)
	return float64(least)
}

// fileMiB returns the size of a file in MiB.
func fileMiB(b *testing.B, path string) float64 {
	fi, err := os.Stat(path)
	require.NoError(b, err)
	return float64(fi.Size()) / (1 << 20)
}

// median returns the median of xs, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
