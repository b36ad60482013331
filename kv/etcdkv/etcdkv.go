// Package etcdkv is the shared durable engine of kv: an etcd cluster (etcd's own client,
// go.etcd.io/etcd/client/v3), for several appliances sharing one store. Use it through
// kv.NewDB:
//
//	e, err := etcdkv.Open(ctx, &etcdkv.Config{Endpoints: []string{"10.0.2.2:2379"}, Dial: network.Dial})
//	db := kv.NewDB(e, nil)
//
// Config.Dial carries the client's connections: give an appliance's own TCP/IP stack
// (appliance.Network.Dial) so that the store is reached through it like any other peer.
// Revisions are etcd's: a transaction that returned is committed by a majority of the
// cluster, which persisted it before answering.
package etcdkv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/unikit/unikit/kv"
)

// Config configures Open.
type Config struct {
	// Endpoints are the cluster's client addresses, HOST:PORT (or http://HOST:PORT).
	Endpoints []string
	// Dial, if set, makes the client's connections (network is "tcp"); default the host's
	// sockets.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// DialTimeout bounds connecting to the cluster in Open; default 10s.
	DialTimeout time.Duration
	// Logger receives the client's logs; default none.
	Logger *zap.Logger
}

// Engine is a kv.Engine on an etcd cluster.
type Engine struct {
	c *clientv3.Client
}

var _ kv.Engine = (*Engine)(nil)

// Open connects to the cluster and checks that it answers (bounded by ctx and DialTimeout).
func Open(ctx context.Context, cfg *Config) (*Engine, error) {
	cc := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Logger:      cfg.Logger,
		// Keepalives notice a member gone silent (stopped, partitioned) and move on to another.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	}
	if cc.DialTimeout == 0 {
		cc.DialTimeout = 10 * time.Second
	}
	if cc.Logger == nil {
		cc.Logger = zap.NewNop()
	}
	if cfg.Dial != nil {
		dial := cfg.Dial
		cc.DialOptions = append(cc.DialOptions, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dial(ctx, "tcp", addr)
		}))
	}
	c, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcdkv: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cc.DialTimeout)
	defer cancel()
	if _, err := c.Get(ctx, "\x00", clientv3.WithCountOnly()); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcdkv: the cluster at %v does not answer: %w", cfg.Endpoints, err)
	}
	return &Engine{c: c}, nil
}

// Client returns the etcd client.
func (e *Engine) Client() *clientv3.Client { return e.c }

// View implements kv.Engine. etcd's client hands out its own copy of the value.
func (e *Engine) View(ctx context.Context, key string, fn func(val []byte, rev int64) error) error {
	r, err := e.c.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("etcdkv: get %q: %w", key, err)
	}
	if len(r.Kvs) == 0 {
		return kv.ErrNotFound
	}
	return fn(r.Kvs[0].Value, r.Kvs[0].ModRevision)
}

// rangePage is how many keys Range asks for at once.
const rangePage = 256

// Range implements kv.Engine: page by page, every page read at the revision of the first, so
// the whole range is one consistent view.
func (e *Engine) Range(ctx context.Context, prefix string, fn func(key string, val []byte, rev int64) error) error {
	end := clientv3.GetPrefixRangeEnd(prefix) // "\x00" for "": every key from the start key on
	from := prefix
	if from == "" {
		from = "\x00" // etcd refuses the empty key (and stores none): start at the lowest other
	}
	var at int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(rangePage)}
		if at != 0 {
			opts = append(opts, clientv3.WithRev(at))
		}
		r, err := e.c.Get(ctx, from, opts...)
		if err != nil {
			return fmt.Errorf("etcdkv: range %q: %w", prefix, err)
		}
		at = r.Header.Revision
		for _, k := range r.Kvs {
			if err := fn(string(k.Key), k.Value, k.ModRevision); err != nil {
				return err
			}
		}
		if !r.More || len(r.Kvs) == 0 {
			return nil
		}
		from = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
	}
}

// Txn implements kv.Engine with one etcd transaction.
func (e *Engine) Txn(ctx context.Context, conds []kv.Cond, ops []kv.Op) (int64, error) {
	cmps := make([]clientv3.Cmp, len(conds))
	for i, c := range conds {
		cmps[i] = clientv3.Compare(clientv3.ModRevision(c.Key), "=", c.Rev)
	}
	eops := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		switch {
		case op.Delete && op.Prefix:
			eops[i] = clientv3.OpDelete(op.Key, clientv3.WithPrefix())
		case op.Delete:
			eops[i] = clientv3.OpDelete(op.Key)
		default:
			eops[i] = clientv3.OpPut(op.Key, string(op.Value))
		}
	}
	r, err := e.c.Txn(ctx).If(cmps...).Then(eops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("etcdkv: txn: %w", err)
	}
	if !r.Succeeded {
		return 0, kv.ErrRevMismatch
	}
	return r.Header.Revision, nil
}

// watchBuffer is how many events a watcher holds before it drops them (and says so).
const watchBuffer = 1024

// Watch implements kv.Engine. It starts at the revision after the store's current one, so no
// transaction that follows the call is missed.
func (e *Engine) Watch(ctx context.Context, prefix string) (<-chan kv.Event, error) {
	r, err := e.c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("etcdkv: watch %q: %w", prefix, err)
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := e.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(r.Header.Revision+1))
	out := make(chan kv.Event, watchBuffer)
	go func() {
		defer close(out)
		defer cancel()
		lost := false
		send := func(ev kv.Event) {
			if lost {
				select {
				case out <- kv.Event{Lost: true}:
					lost = false
				default:
					return
				}
			}
			select {
			case out <- ev:
			default:
				lost = true
			}
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				// Compacted past the watcher's revision, or the watch was cancelled: whatever
				// happened meanwhile is unknown.
				lost = true
				send(kv.Event{Lost: true})
				if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
					continue
				}
				return
			}
			for _, ev := range resp.Events {
				send(kv.Event{Key: string(ev.Kv.Key), Rev: ev.Kv.ModRevision, Deleted: ev.Type == clientv3.EventTypeDelete})
			}
		}
	}()
	return out, nil
}

// Close implements kv.Engine.
func (e *Engine) Close() error { return e.c.Close() }
