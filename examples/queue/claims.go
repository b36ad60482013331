package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/unikit/unikit/kv"
)

// claimMeta is a claim, stored as the metadata of claims/ID.
type claimMeta struct {
	Token string    `json:"token"`
	Until time.Time `json:"until"`
	// Done is set by POST /claims/{token}/done before the upload is deleted, so that no one
	// claims it meanwhile; a restart finishes what a crash interrupted (finishDone).
	Done bool `json:"done,omitempty"`
}

// claimable reports whether an upload with this claim record (ok false: none) can be claimed.
func claimable(c kv.Record, ok bool, now time.Time) bool {
	if !ok {
		return true
	}
	var m claimMeta
	if json.Unmarshal(c.Meta, &m) != nil {
		return false
	}
	return !m.Done && now.After(m.Until)
}

// newToken returns a claim token for upload id: the ID, a dot, and 128 random bits.
func newToken(id string) string {
	var b [16]byte
	rand.Read(b[:])
	return id + "." + hex.EncodeToString(b[:])
}

func (q *queue) postClaim(w http.ResponseWriter, r *http.Request) {
	lease := q.lease
	if s := r.URL.Query().Get("lease"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > q.maxLease {
			http.Error(w, "lease: want a positive duration such as 30s, at most "+q.maxLease.String(), http.StatusBadRequest)
			return
		}
		lease = d
	}
	id, m, err := q.claim(r.Context(), lease)
	switch {
	case err != nil:
		fail(w, r, err)
	case id == "":
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, struct {
			ID         string    `json:"id"`
			Token      string    `json:"token"`
			LeaseUntil time.Time `json:"lease_until"`
		}{id, m.Token, m.Until})
	}
}

// claim claims the oldest claimable upload with compare-and-swap on its claim record: of
// several workers (in this appliance or another on the same store) trying the same upload,
// one wins and the others move on to the next. It returns "" when nothing is claimable.
func (q *queue) claim(ctx context.Context, lease time.Duration) (string, claimMeta, error) {
	ups, err := q.uploads(ctx)
	if err != nil {
		return "", claimMeta{}, err
	}
	recs, err := q.db.List(ctx, claimSpace)
	if err != nil {
		return "", claimMeta{}, err
	}
	claims := make(map[string]kv.Record, len(recs))
	for _, c := range recs {
		claims[c.Key[len(claimSpace):]] = c
	}
	now := time.Now()
	for _, u := range ups {
		id := u.Key[len(uploadSpace):]
		c, ok := claims[id]
		if !claimable(c, ok, now) {
			continue
		}
		// The listing may be stale by now: skip uploads finished (or deleted) since, cheaply,
		// before a write.
		if _, err := q.db.Stat(ctx, u.Key); errors.Is(err, kv.ErrNotFound) {
			continue
		}
		m := claimMeta{Token: newToken(id), Until: now.Add(lease).UTC()}
		meta, _ := json.Marshal(m)
		_, err := q.db.Put(ctx, claimSpace+id, empty, &kv.PutOptions{Meta: meta, Match: true, Rev: c.Rev})
		if errors.Is(err, kv.ErrRevMismatch) {
			continue // another worker was faster
		}
		if err != nil {
			return "", claimMeta{}, err
		}
		if _, err := q.db.Stat(ctx, u.Key); errors.Is(err, kv.ErrNotFound) {
			q.db.Delete(ctx, claimSpace+id, nil) // deleted meanwhile: drop the claim
			continue
		}
		return id, m, nil
	}
	return "", claimMeta{}, nil
}

func (q *queue) postDone(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	id, _, ok := strings.Cut(token, ".")
	if !ok || !validID(id) {
		http.Error(w, "no such claim", http.StatusNotFound)
		return
	}
	ctx := r.Context()
	c, err := q.db.Stat(ctx, claimSpace+id)
	gone := func() { http.Error(w, "the claim's lease expired or it is done", http.StatusGone) }
	if errors.Is(err, kv.ErrNotFound) {
		gone()
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	var m claimMeta
	if json.Unmarshal(c.Meta, &m) != nil || m.Token != token {
		gone()
		return
	}
	if m.Done { // a retry of a done whose removal failed: finish it
		if err := q.remove(ctx, id); err != nil {
			fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if time.Now().After(m.Until) {
		gone()
		return
	}
	m.Done = true
	meta, _ := json.Marshal(m)
	_, err = q.db.Put(ctx, claimSpace+id, empty, &kv.PutOptions{Meta: meta, Match: true, Rev: c.Rev})
	if errors.Is(err, kv.ErrRevMismatch) {
		gone() // reclaimed by another worker after the lease expired
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	if err := q.remove(ctx, id); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// remove deletes a done upload and then its claim.
func (q *queue) remove(ctx context.Context, id string) error {
	if err := q.db.Delete(ctx, uploadSpace+id, nil); err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	if err := q.db.Delete(ctx, claimSpace+id, nil); err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	return nil
}

// finishDone removes the uploads whose done was interrupted by a crash.
func (q *queue) finishDone(ctx context.Context) error {
	recs, err := q.db.List(ctx, claimSpace)
	if err != nil {
		return err
	}
	for _, c := range recs {
		var m claimMeta
		if json.Unmarshal(c.Meta, &m) == nil && m.Done {
			if err := q.remove(ctx, c.Key[len(claimSpace):]); err != nil {
				return err
			}
		}
	}
	return nil
}
