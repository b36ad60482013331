package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzAPI sends requests with arbitrary paths and queries (IDs, tokens, names, leases: what a
// client controls) to the API: none may panic or fail the store (500), and none may reach
// keys outside the queue's.
func FuzzAPI(f *testing.F) {
	db, err := openBolt(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	q := &queue{db: db, maxUpload: 1 << 16, lease: time.Minute, maxLease: time.Hour}
	h := q.handler()
	for _, s := range []string{
		"POST /uploads?name=a", "GET /uploads", "GET /uploads/18eed3d76a953cb9b8bdad8e",
		"DELETE /uploads/..%2fclaims", "POST /claims?lease=1ms", "POST /claims?lease=-1s",
		"POST /claims/18eed3d76a953cb9b8bdad8e.00/done", "POST /claims/x.y.z/done", "GET /uploads/%00",
	} {
		f.Add(s, "body")
	}
	f.Fuzz(func(t *testing.T, line, body string) {
		method, target, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t") {
			return
		}
		switch method {
		case "GET", "POST", "DELETE", "HEAD":
		default:
			return
		}
		req, err := http.NewRequest(method, "http://queue"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s: 500: %s", method, target, w.Body)
		}
	})
}
