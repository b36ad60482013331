package main

import (
	"cmp"
	"context"
	"crypto/rand"
	b64 "encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/unikit/unikit/kv"
)

// Key spaces of the queue in its store.
const (
	uploadSpace = "uploads/" // uploads/ID: the upload's bytes, with its uploadMeta
	claimSpace  = "claims/"  // claims/ID: an empty value, with its claimMeta
)

// queue is the appliance's HTTP API on its store.
type queue struct {
	db        *kv.DB
	maxUpload int64
	lease     time.Duration
	maxLease  time.Duration
}

// uploadMeta is stored with each upload.
type uploadMeta struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// upload is an entry of GET /uploads.
type upload struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
}

func (q *queue) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /uploads", q.postUpload)
	mux.HandleFunc("GET /uploads", q.listUploads)
	mux.HandleFunc("GET /uploads/{id}", q.getUpload)
	mux.HandleFunc("DELETE /uploads/{id}", q.deleteUpload)
	mux.HandleFunc("POST /claims", q.postClaim)
	mux.HandleFunc("POST /claims/{token}/done", q.postDone)
	return mux
}

// newID returns a fresh upload ID: the time in hexadecimal nanoseconds, then 32 random bits.
func newID() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%016x", time.Now().UnixNano()) + hex.EncodeToString(b[:])
}

// validID reports whether id is of newID's form (so it names nothing else in the store).
func validID(id string) bool {
	if len(id) != 24 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fail answers a store error: 404 for a missing upload, 500 (logged) otherwise.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, kv.ErrNotFound) {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	slog.Error("queue: store", "method", r.Method, "path", r.URL.Path, "err", err)
	http.Error(w, "store error", http.StatusInternalServerError)
}

func (q *queue) postUpload(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > q.maxUpload {
		// Refused before reading: a client that sent Expect: 100-continue sends nothing.
		http.Error(w, fmt.Sprintf("upload larger than %d bytes", q.maxUpload), http.StatusRequestEntityTooLarge)
		return
	}
	name := r.URL.Query().Get("name")
	if len(name) > 1024 {
		http.Error(w, "name longer than 1024 bytes", http.StatusBadRequest)
		return
	}
	meta, _ := json.Marshal(uploadMeta{Name: name, Created: time.Now().UTC()})
	id := newID()
	body := http.MaxBytesReader(w, r.Body, q.maxUpload)
	rec, err := q.db.Put(r.Context(), uploadSpace+id, body, &kv.PutOptions{Meta: meta, Match: true})
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, fmt.Sprintf("upload larger than %d bytes", q.maxUpload), http.StatusRequestEntityTooLarge)
			return
		}
		if r.Context().Err() != nil {
			return // the client went away: nothing stored, nobody to answer
		}
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/uploads/"+id)
	writeJSON(w, http.StatusCreated, struct {
		ID     string `json:"id"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}{id, rec.Size, rec.Digest.String()})
}

// uploads returns the uploads in upload order: the order their last transactions committed.
func (q *queue) uploads(ctx context.Context) ([]kv.Record, error) {
	recs, err := q.db.List(ctx, uploadSpace)
	slices.SortFunc(recs, func(a, b kv.Record) int { return cmp.Compare(a.Rev, b.Rev) })
	return recs, err
}

func toUpload(rec kv.Record) upload {
	var m uploadMeta
	json.Unmarshal(rec.Meta, &m)
	return upload{ID: rec.Key[len(uploadSpace):], Name: m.Name, Size: rec.Size, SHA256: rec.Digest.String(), Created: m.Created}
}

func (q *queue) listUploads(w http.ResponseWriter, r *http.Request) {
	recs, err := q.uploads(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	list := make([]upload, len(recs))
	for i, rec := range recs {
		list[i] = toUpload(rec)
	}
	writeJSON(w, http.StatusOK, list)
}

func (q *queue) getUpload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		http.NotFound(w, r)
		return
	}
	v, err := q.db.Open(r.Context(), uploadSpace+id)
	if err != nil {
		fail(w, r, err)
		return
	}
	u := toUpload(v.Record())
	h := w.Header()
	h.Set("ETag", `"`+u.SHA256+`"`)
	h.Set("Content-Type", "application/octet-stream")
	digest := v.Record().Digest
	h.Set("Repr-Digest", "sha-256=:"+b64.StdEncoding.EncodeToString(digest[:])+":")
	if u.Name != "" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": u.Name}))
	}
	// ServeContent answers If-Match, If-None-Match, If-(Un)Modified-Since, If-Range and
	// Range from the ETag and the time, reading only the bytes asked for: each chunk is checked
	// against its SHA-256 before any of it is sent.
	http.ServeContent(w, r, "", u.Created.Truncate(time.Second), v)
}

func (q *queue) deleteUpload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		http.NotFound(w, r)
		return
	}
	if err := q.db.Delete(r.Context(), uploadSpace+id, nil); err != nil {
		fail(w, r, err)
		return
	}
	if err := q.db.Delete(r.Context(), claimSpace+id, nil); err != nil && !errors.Is(err, kv.ErrNotFound) {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// empty is the value of a claim record: a claim is all metadata.
var empty = http.NoBody
