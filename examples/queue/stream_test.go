package main

import (
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUploadIsStreamed uploads 64 MiB and samples the heap meanwhile: the upload is never
// held whole in memory (the heap grows by a few chunks at most, not by the body's size).
func TestUploadIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB: not with -short")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(10)) // keep the heap near what is live
	_, url := newTestQueue(t, 128<<20)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	const size = 64 << 20
	resp, err := http.Post(url+"/uploads", "application/octet-stream", io.LimitReader(zeros{}, size))
	close(done)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	grew := int64(peak.Load()) - int64(base)
	t.Logf("heap grew by at most %d MiB during a %d MiB upload", grew>>20, size>>20)
	require.Less(t, grew, int64(size/4))
}
