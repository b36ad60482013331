// Command queue is an upload queue appliance, after the 0install upload queue that ran as a
// MirageOS unikernel in 2014: clients upload files over a REST API, workers claim them one at
// a time with leases and mark them done. Uploads are stored durably in kv: by default in a
// bbolt file (-data), or on an etcd cluster (-etcd) shared by several appliances. It serves on
// port 80 of its own TCP/IP stack with the usual -net flags (see package appliance).
//
//	go run ./examples/queue -data ./queue-data
//	curl -sS --data-binary @pkg.tar.gz 'http://127.0.0.1:8080/uploads?name=pkg.tar.gz'
//	curl -sS http://127.0.0.1:8080/uploads
//	curl -sS -X POST 'http://127.0.0.1:8080/claims?lease=1m'
//	curl -sS -X POST http://127.0.0.1:8080/claims/TOKEN/done
//
// Two appliances sharing one queue on an etcd running on the host (reached, under -net user,
// through the user-mode network's mapping of the host's loopback):
//
//	go run ./examples/queue -etcd 127.0.0.1:2379 -listen 127.0.0.1:8080
//	go run ./examples/queue -etcd 127.0.0.1:2379 -listen 127.0.0.1:8081
//
// The API:
//
//	POST /uploads[?name=NAME]      the raw body, streamed to the store: 201 {"id","size","sha256"}
//	                               with Location; 413 above -max-upload, with nothing stored
//	GET /uploads                   200 [{"id","name","size","sha256","created"}] in upload order
//	GET /uploads/{id}              the bytes, with ETag (the SHA-256), conditional requests, Range
//	DELETE /uploads/{id}           204, then 404
//	POST /claims[?lease=DURATION]  claims the oldest unclaimed upload: 200 {"id","token",
//	                               "lease_until"}, or 204 when none is waiting
//	POST /claims/{token}/done      204: the upload is removed; 410 once the lease has expired
//
// An upload acknowledged with 201 is durable (its last transaction was fsync'd, or committed
// by a majority of the etcd cluster) and survives kill -9; an upload interrupted before its 201
// is never listed. Each upload is claimed by one worker at a time, however many workers and
// appliances ask at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/kv"
)

// Defaults of the flags.
const (
	httpPort         = 80
	defaultMaxUpload = 64 << 20
	defaultData      = "./queue-data"
	defaultLease     = time.Minute
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "queue:", err)
		os.Exit(1)
	}
}

// options are the queue's own flags, beside the appliance's.
type options struct {
	data      string
	etcd      string
	maxUpload int64
	lease     time.Duration
	maxLease  time.Duration
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	var o options
	q := &queue{}
	app := appliance.New(&appliance.Config{
		Flags: fs, Out: out, HostLoopback: true,
		Opened: func(ctx context.Context, n *appliance.Network) error {
			if o.etcd == "" {
				return nil
			}
			db, err := openEtcd(ctx, n, strings.Split(o.etcd, ","))
			if err != nil {
				return err
			}
			return q.start(ctx, db, etcdSweepAge)
		},
	})
	fs.StringVar(&o.data, "data", defaultData, "directory of the embedded store (a bbolt file)")
	fs.StringVar(&o.etcd, "etcd", "", "share the queue on this etcd cluster instead: HOST:PORT,... (under -net user, "+
		"127.0.0.1 and localhost are the host's, reached through the user-mode network)")
	fs.Int64Var(&o.maxUpload, "max-upload", defaultMaxUpload, "largest upload in bytes; larger ones get 413")
	fs.DurationVar(&o.lease, "lease", defaultLease, "lease of a claim without ?lease=")
	fs.DurationVar(&o.maxLease, "max-lease", time.Hour, "longest lease a claim may ask for")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.maxUpload <= 0 || o.lease <= 0 || o.maxLease < o.lease {
		return errors.New("-max-upload and -lease must be positive, -max-lease at least -lease")
	}
	q.maxUpload, q.lease, q.maxLease = o.maxUpload, o.lease, o.maxLease
	if o.etcd == "" {
		db, err := openBolt(o.data)
		if err != nil {
			return err
		}
		// One process owns the file (bbolt locks it): every unfinished write is a crashed one.
		if err := q.start(ctx, db, 0); err != nil {
			db.Close()
			return err
		}
	}
	defer q.close()
	return app.Run(ctx, appliance.Port{Number: httpPort, Name: "queue", Handler: q.handler()})
}

// start makes db the queue's store and cleans up after a crash: the chunks of uploads that
// never committed (older than sweepAge) and uploads whose done was interrupted.
func (q *queue) start(ctx context.Context, db *kv.DB, sweepAge time.Duration) error {
	q.db = db
	if _, err := db.Sweep(ctx, sweepAge); err != nil {
		return fmt.Errorf("sweeping unfinished uploads: %w", err)
	}
	return q.finishDone(ctx)
}

func (q *queue) close() {
	if q.db != nil {
		q.db.Close()
	}
}
