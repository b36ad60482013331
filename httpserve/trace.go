package httpserve

import (
	"context"
	"runtime/trace"
)

// Names of the runtime/trace tasks and regions of a request, which `go tool trace` shows: a
// task per request, and in it the regions of preparing its response (resolving the request
// to a prepared response and queueing it) and writing responses out.
const (
	traceRequest = "unikit.http.request"
	tracePrepare = "unikit.http.prepare"
	traceWrite   = "unikit.http.write"
)

// startRequest starts a request's trace task when a trace is being taken, and returns nil
// (and ctx) otherwise: a task costs allocations even with tracing off, so none is made then.
func startRequest(ctx context.Context) (context.Context, *trace.Task) {
	if !trace.IsEnabled() {
		return ctx, nil
	}
	return trace.NewTask(ctx, traceRequest)
}

// endRequest ends a task startRequest started, if it did.
func endRequest(t *trace.Task) {
	if t != nil {
		t.End()
	}
}
