package httpload

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// nginxWorkerConns is the worker_connections directive of nginxConf.
const nginxWorkerConns = "worker_connections 4096;"

// StartNginxConns is StartNginx with room for conns connections (worker_connections), for a
// benchmark that holds more open than the load benchmarks do. nginx allocates its connection
// table at start, so the room is in its resident memory before the first connection.
func StartNginxConns(t testing.TB, ns *netns.NS, cpus, listen, root string, conns int) *exec.Cmd {
	t.Helper()
	nginx := peers.Program(t, "nginx", "nginx-light")
	prefix := t.TempDir()
	conf := filepath.Join(prefix, "nginx.conf")
	text := fmt.Sprintf(nginxConf, prefix, listen, root)
	require.Contains(t, text, nginxWorkerConns)
	text = strings.Replace(text, nginxWorkerConns, fmt.Sprintf("worker_connections %d;", conns), 1)
	require.NoError(t, os.WriteFile(conf, []byte(text), 0o644))
	return Start(t, ns, listen, Pinned(t, ns, cpus, nginx, "-p", prefix, "-c", conf))
}
