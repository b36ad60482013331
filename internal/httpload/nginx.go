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

// nginxConf is nginx configured as its users tune it for static files: one worker without a
// master process (so the PID started is the one that serves), sendfile, open_file_cache, no
// access log, unlimited keep-alive requests. Its arguments: the prefix directory, the
// listen address, the document root.
//
// tcp_nopush is off. With it on, nginx 1.22 on Linux corks the socket (TCP_CORK) for each
// response, clearing TCP_NODELAY first, and uncorks it after the sendfile without setting
// TCP_NODELAY again (strace shows TCP_CORK 1, writev of the headers, sendfile, TCP_CORK 0 and
// no TCP_NODELAY on a keep-alive connection). A response longer than one segment then ends
// in a partial segment that Nagle's algorithm holds until the client acknowledges the
// segment before it; when the client's kernel is in its interactive mode it delays that ACK
// (expecting to send it with the next request, which waits for this response) by its 40 ms
// minimum. It happens to a few responses in a thousand, but wrk's coordinated-omission
// correction turns each stall into many samples. wrk -t1 -c1 on loopback, 64 KiB, 3 s: p99 41
// ms in four runs with tcp_nopush on, 2.4 and 3.8 ms with it off (tcp_nodelay on in both);
// in a fresh namespace, 4 s each on a loaded machine, the kernel's delayed-ACK timer fired
// (TcpExtDelayedACKs) 14, 19 and 18 times with it on, 5, 3 and 0 with it off. 4 KiB
// responses fit one segment and never stall.
const nginxConf = `
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush off;
  tcp_nodelay on;
  open_file_cache max=1000 inactive=60s;
  keepalive_requests 1000000;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  types { text/html html; }
  server {
    listen %[2]s;
    root %[3]s;
  }
}
`

// StartNginx starts Debian's nginx-light serving root on listen (HOST:PORT), pinned to cpus,
// inside ns when it is not nil, and waits until it accepts connections. listenParams are
// added to the listen directive ("http2": HTTP/2 with prior knowledge on cleartext). It is
// stopped when t ends.
func StartNginx(t testing.TB, ns *netns.NS, cpus, listen, root string, listenParams ...string) *exec.Cmd {
	t.Helper()
	nginx := peers.Program(t, "nginx", "nginx-light")
	prefix := t.TempDir()
	conf := filepath.Join(prefix, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, prefix, strings.Join(append([]string{listen}, listenParams...), " "), root)), 0o644))
	return Start(t, ns, listen, Pinned(t, ns, cpus, nginx, "-p", prefix, "-c", conf))
}
