package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/kv"
	"github.com/unikit/unikit/kv/boltkv"
	"github.com/unikit/unikit/kv/etcdkv"
)

// etcdSweepAge is how old an unfinished upload on etcd must be before an appliance removes
// its chunks: other appliances may be writing theirs.
const etcdSweepAge = time.Hour

// openBolt opens the embedded store in dir (created if needed).
func openBolt(dir string) (*kv.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	e, err := boltkv.Open(filepath.Join(dir, "queue.db"), nil)
	if err != nil {
		return nil, err
	}
	return kv.NewDB(e, nil), nil
}

// openEtcd connects to the etcd cluster through the appliance's network. Under -net user the
// host's loopback addresses are reached at the user-mode network's gateway.
func openEtcd(ctx context.Context, n *appliance.Network, endpoints []string) (*kv.DB, error) {
	eps := make([]string, len(endpoints))
	for i, ep := range endpoints {
		eps[i] = stackEndpoint(n, ep)
	}
	e, err := etcdkv.Open(ctx, &etcdkv.Config{Endpoints: eps, Dial: n.Dial})
	if err != nil {
		return nil, fmt.Errorf("-etcd %v (as %v from the stack): %w", endpoints, eps, err)
	}
	return kv.NewDB(e, nil), nil
}

// stackEndpoint returns the address under which the stack reaches the etcd endpoint ep.
func stackEndpoint(n *appliance.Network, ep string) string {
	u := n.User()
	if u == nil {
		return ep
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return ep
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return net.JoinHostPort(u.Gateway().String(), port)
	}
	return ep
}
