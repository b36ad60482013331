// Package etcdtest runs real etcd clusters on loopback for tests: Debian's etcd-server
// package's etcd binary, one process per member, each with its own data directory. A test
// without the binary skips (or fails under UNIKIT_PEERS=require, see internal/peers).
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/unikit/unikit/internal/peers"
)

// Cluster is a running etcd cluster on 127.0.0.1.
type Cluster struct {
	t       testing.TB
	bin     string
	members []*member
}

type member struct {
	name, dir, client, peer string
	args                    []string
	cmd                     *exec.Cmd
	done                    chan struct{}
}

// Start starts a cluster of n members and waits until it answers. The cluster is stopped
// when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: peers.Program(t, "etcd", "etcd-server")}
	base := t.TempDir()
	var initial []string
	for i := range n {
		m := &member{name: fmt.Sprintf("m%d", i), client: freeAddr(t), peer: freeAddr(t)}
		m.dir = filepath.Join(base, m.name)
		c.members = append(c.members, m)
		initial = append(initial, m.name+"=http://"+m.peer)
	}
	for _, m := range c.members {
		m.args = []string{
			"--name", m.name, "--data-dir", m.dir,
			"--listen-client-urls", "http://" + m.client, "--advertise-client-urls", "http://" + m.client,
			"--listen-peer-urls", "http://" + m.peer, "--initial-advertise-peer-urls", "http://" + m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "unikit-test",
			// Quick elections for tests on a loaded machine.
			"--heartbeat-interval", "50", "--election-timeout", "500",
		}
		c.start(m)
	}
	t.Cleanup(c.stopAll)
	c.waitHealthy()
	return c
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (c *Cluster) start(m *member) {
	log, err := os.OpenFile(filepath.Join(filepath.Dir(m.dir), m.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	m.cmd = exec.Command(c.bin, m.args...)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	m.cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+archName())
	if err := m.cmd.Start(); err != nil {
		c.t.Fatalf("starting etcd: %v", err)
	}
	m.done = make(chan struct{})
	go func() { m.cmd.Wait(); log.Close(); close(m.done) }()
}

// Endpoints returns the client addresses of every member, running or not.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.client)
	}
	return eps
}

// Stop kills member i (SIGKILL, as a crash) and waits until it has exited.
func (c *Cluster) Stop(i int) {
	m := c.members[i]
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.cmd = nil
}

// Restart starts a stopped member i again with its data.
func (c *Cluster) Restart(i int) {
	m := c.members[i]
	if m.cmd != nil {
		return
	}
	for j, a := range m.args {
		if a == "--initial-cluster-state" {
			m.args[j+1] = "existing"
		}
	}
	c.start(m)
}

func (c *Cluster) stopAll() {
	for i := range c.members {
		c.Stop(i)
	}
}

// waitHealthy waits until a write through the cluster succeeds.
func (c *Cluster) waitHealthy() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Put(ctx, "etcdtest/health", "ok")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("etcd cluster not healthy after 30s: %v (logs in %s)", err, filepath.Dir(c.members[0].dir))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
