package main

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/soak"
	"github.com/unikit/unikit/kv"
)

// TestSoak runs the blog as a person running it for weeks would meet it: bad start-ups, then
// over -net user and over TAP (root) the mixed load, reloads while the site changes, slow
// readers, idle keep-alive connections and clients that reset mid-download, each against a
// fresh blog (package soak says what each checks). UNIKIT_SOAK=short runs the short version
// (about 2 minutes), which CI runs as a step of its own; UNIKIT_SOAK=full the full one, and
// UNIKIT_SOAK_OUT=FILE writes the report there; `go run ./bench -soak` does both and turns the
// report into bench/results/soak.md and soak.svg:
//
//	UNIKIT_SOAK=short go test ./examples/blog -count=1 -run '^TestSoak$' -v
func TestSoak(t *testing.T) {
	// Minutes of load do not belong in go test ./..., which runs every package's tests at once:
	// the soak runs only when asked for, alone, and CI asks (.ci/run).
	if os.Getenv(soak.ModeEnv) == "" {
		t.Skipf("the soak runs with %s=short or =full (go run ./bench -soak)", soak.ModeEnv)
	}
	bin := apptest.Build(t)
	peers.Program(t, "wrk", "wrk")
	mode := soak.ModeFromEnv()
	report := &soak.Report{Mode: mode, Criteria: soak.Limits()}
	// The report is written after every scenario, so that a run stopped half-way leaves what
	// it found.
	save := func(t *testing.T) {
		if out := os.Getenv(soak.OutEnv); out != "" {
			require.NoError(t, report.Write(out))
		}
	}
	t.Run("badstarts", func(t *testing.T) { badStarts(t, bin, report) })
	save(t)
	site, err := soak.NewSite(t.TempDir())
	require.NoError(t, err)
	scenarios := []struct {
		name string
		run  func(t *testing.T, n *soak.Net, r *soak.NetReport)
	}{
		{"mixed", func(t *testing.T, n *soak.Net, r *soak.NetReport) { r.Mixed = soak.Mixed(t, bin, site, n, mode) }},
		{"reload", func(t *testing.T, n *soak.Net, r *soak.NetReport) { r.Reload = soak.Reload(t, bin, site, n, mode) }},
		{"slow", func(t *testing.T, n *soak.Net, r *soak.NetReport) { r.Slow = soak.Slow(t, bin, site, n, mode) }},
		{"idle", func(t *testing.T, n *soak.Net, r *soak.NetReport) { r.Idle = soak.Idle(t, bin, site, n, mode) }},
		{"resets", func(t *testing.T, n *soak.Net, r *soak.NetReport) { r.Resets = soak.Resets(t, bin, site, n, mode) }},
	}
	for _, net := range []struct {
		name  string
		setup func(t testing.TB) *soak.Net
	}{{"user", soakUser}, {"tap", soakTAP}} {
		t.Run(net.name, func(t *testing.T) {
			n := net.setup(t)
			r := report.Net(n.Name)
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) { sc.run(t, n, r) })
				save(t)
			}
		})
	}
}

func soakUser(testing.TB) *soak.Net {
	return &soak.Net{Name: "user", Flags: []string{"-net", "user", "-listen", "127.0.0.1:0"}}
}

// soakNet is the TAP network's prefix: the kernel's side is .1, the blog .2.
var soakNet = netip.MustParsePrefix("10.84.0.0/24")

// soakTAP makes a TAP device in a namespace of its own, where the blog and its clients run.
func soakTAP(t testing.TB) *soak.Net {
	peers.Root(t)
	ns := netns.New(t)
	tap := netns.UniqueName("uksk")
	ns.AddTAP(t, tap, true)
	ns.AddAddr(t, tap, hostPrefix(soakNet, 1))
	ns.LinkUp(t, tap)
	return &soak.Net{Name: "tap", NS: ns,
		Flags: append([]string{"-net", "tap:" + tap}, staticFlags(soakNet)...),
		// Every blog has a new MAC address: forget the previous one's.
		BeforeStart: func(t testing.TB) { ns.IP(t, "neigh", "flush", "dev", tap) }}
}

// badStarts starts the blog with something wrong in each way a person running it may meet:
// each must end within soak.BadStartLimit with a non-zero status and a message that says
// what is wrong.
func badStarts(t *testing.T, bin string, report *soak.Report) {
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	require.NoError(t, os.MkdirAll(site, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("<p>hello</p>"), 0o644))
	store, err := kv.LoadDir(site, nil)
	require.NoError(t, err)
	var img bytes.Buffer
	require.NoError(t, kv.WriteImage(&img, store))
	truncated, damaged := filepath.Join(dir, "truncated.kvimg"), filepath.Join(dir, "damaged.kvimg")
	require.NoError(t, os.WriteFile(truncated, img.Bytes()[:img.Len()/2], 0o644))
	bad := bytes.Clone(img.Bytes())
	bad[len(bad)/2] ^= 0xff
	require.NoError(t, os.WriteFile(damaged, bad, 0o644))
	inUse, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer inUse.Close()

	type badStart struct {
		name string
		args []string
		want []string // what the message must say
		// cmd, if set, makes the command instead of running bin with args here.
		cmd func(t *testing.T, args []string) (*exec.Cmd, string)
	}
	user := []string{"-net", "user", "-listen", "127.0.0.1:0"}
	cases := []badStart{
		{"site missing", append([]string{"-site", filepath.Join(dir, "nowhere")}, user...),
			[]string{"nowhere", "no such file or directory"}, nil},
		{"image truncated", append([]string{"-image", truncated}, user...), []string{"corrupt content image", "truncated"}, nil},
		{"image damaged", append([]string{"-image", damaged}, user...), []string{"corrupt content image"}, nil},
		{"listen in use", []string{"-site", site, "-net", "user", "-listen", inUse.Addr().String()},
			[]string{inUse.Addr().String(), "address already in use"}, nil},
		{"socket to nothing", []string{"-site", site, "-net", "socket:" + filepath.Join(dir, "none.sock")},
			[]string{"-net socket:", "none.sock", "no such file or directory"}, nil},
		{"net bogus", []string{"-site", site, "-net", "bogus"},
			[]string{`-net "bogus"`, "user, user,nic=virtio, user,nic=xen, tap:NAME[,create], socket:PATH, socket-listen:PATH, vhost-user:PATH, virtio-pci[:BDF], xen[:vif-N] or kernel"}, nil},
		{"tap without permission", []string{"-site", site, "-net", "tap:uksoak0"},
			[]string{"-net tap:uksoak0", "operation not permitted", "CAP_NET_ADMIN"}, unprivileged(bin, "uksoak0")},
		{"tap missing", []string{"-site", site, "-net", "tap:uksoak0"},
			[]string{"-net tap:uksoak0", "no network device", "ip tuntap add dev uksoak0", "tap:uksoak0,create"}, inFreshNamespace(bin)},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			if tc.cmd != nil {
				var why string
				if cmd, why = tc.cmd(t, tc.args); cmd == nil {
					report.AddBadStart(soak.BadStart{Name: tc.name, Skipped: why,
						Args: strings.Fields(strings.ReplaceAll(strings.Join(tc.args, " "), dir, "DIR"))})
					t.Skip(why)
				}
			}
			b := soak.RunBad(t, tc.name, cmd)
			// The report names the test's temporary directory DIR.
			b.Args = strings.Fields(strings.ReplaceAll(strings.Join(tc.args, " "), dir, "DIR"))
			b.Message = strings.ReplaceAll(b.Message, dir, "DIR")
			report.AddBadStart(b)
			t.Logf("%s: exit %d after %.3f s: %s", tc.name, b.Exit, b.Seconds, b.Message)
			assert.Positive(t, b.Exit, "exit status")
			assert.Less(t, b.Seconds, soak.BadStartLimit.Seconds(), "took too long to give up")
			assert.True(t, strings.HasPrefix(b.Message, "blog: "), "message %q", b.Message)
			for _, w := range tc.want {
				assert.Contains(t, b.Message, w)
			}
		})
	}
}

// unprivileged returns a maker of a command that runs the blog as user nobody without
// capabilities (setpriv), in a namespace made for it where root owns a TAP device named tap; or,
// if this user is not root, as this user.
func unprivileged(bin, tap string) func(t *testing.T, args []string) (*exec.Cmd, string) {
	return func(t *testing.T, args []string) (*exec.Cmd, string) {
		if os.Geteuid() != 0 {
			return exec.Command(bin, args...), ""
		}
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			return nil, "running the blog as an unprivileged user needs setpriv (util-linux)"
		}
		if _, err := exec.LookPath("ip"); err != nil {
			return nil, "a namespace with a TAP device needs iproute2"
		}
		// A copy of the blog and its site that nobody can read: the test's temporary
		// directories are root's alone.
		dir, err := os.MkdirTemp("", "unikit-soak-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o755))
		copyBin := filepath.Join(dir, "blog")
		b, err := os.ReadFile(bin)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(copyBin, b, 0o755))
		args = slices.Clone(args)
		if i := slices.Index(args, "-site"); i >= 0 {
			site := filepath.Join(dir, "site")
			require.NoError(t, os.CopyFS(site, os.DirFS(args[i+1])))
			require.NoError(t, filepath.Walk(site, func(p string, _ os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				return os.Chmod(p, 0o755)
			}))
			args[i+1] = site
		}
		// A persistent device without an owner is open to every user: this one is root's.
		ns := netns.New(t)
		ns.IP(t, "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr", "user", "0")
		return ns.Command(t.Context(), setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=-all", "--", copyBin}, args...)...), ""
	}
}

// inFreshNamespace returns a maker of a command that runs the blog as root in a namespace
// made for it, where no TAP device exists.
func inFreshNamespace(bin string) func(t *testing.T, args []string) (*exec.Cmd, string) {
	return func(t *testing.T, args []string) (*exec.Cmd, string) {
		if os.Geteuid() != 0 {
			return nil, "opening a TAP device that does not exist as root needs root"
		}
		if _, err := exec.LookPath("ip"); err != nil {
			return nil, "a namespace of its own needs iproute2"
		}
		ns := netns.New(t)
		return ns.Command(t.Context(), bin, args...), ""
	}
}
