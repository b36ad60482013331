package appliance_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/guest"
	"github.com/unikit/unikit/netstack/link"
)

// listen returns the parsed -listen entries of hosts, none naming a stack port.
func listen(hosts ...string) []appliance.ListenAddr {
	var a []appliance.ListenAddr
	for _, h := range hosts {
		a = append(a, appliance.ListenAddr{Host: h})
	}
	return a
}

func TestParse(t *testing.T) {
	def := listen(appliance.DefaultListen)
	for _, tc := range []struct {
		args []string
		want appliance.Spec
		err  error // nil: valid
	}{
		{nil, appliance.Spec{Net: "user", Listen: def}, nil},
		{[]string{"-net", "user", "-listen", "127.0.0.1:0"}, appliance.Spec{Net: "user", Listen: listen("127.0.0.1:0")}, nil},
		{[]string{"-net=kernel", "-listen=[::1]:80"}, appliance.Spec{Net: "kernel", Listen: listen("[::1]:80")}, nil},
		{[]string{"-net", "tap:tap0"}, appliance.Spec{Net: "tap", Arg: "tap0"}, nil},
		{[]string{"-net", "tap:tap0,create"}, appliance.Spec{Net: "tap", Arg: "tap0,create"}, nil},
		{[]string{"-tcp-buffers", "32MiB"}, appliance.Spec{Net: "user", Listen: def, TCPBuffers: 32 << 20}, nil},
		{[]string{"-tcp-buffers", "off"}, appliance.Spec{Net: "user", Listen: def, TCPBuffers: -1}, nil},
		{[]string{"-tcp-buffers", "lots"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-tcp-buffers", "0"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "kernel", "-tcp-buffers", "1MiB"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "socket:/tmp/passt.sock"}, appliance.Spec{Net: "socket", Arg: "/tmp/passt.sock"}, nil},
		{[]string{"-net", "socket-listen:/run/q.sock"}, appliance.Spec{Net: "socket-listen", Arg: "/run/q.sock"}, nil},
		{[]string{"-ip", "10.0.2.20/24"}, appliance.Spec{Net: "user", Listen: def,
			Prefix: netip.MustParsePrefix("10.0.2.20/24")}, nil},
		{[]string{"-net", "tap:t1", "-ip", "192.168.5.2/24", "-gw", "192.168.5.1", "-pcap", "x.pcap"},
			appliance.Spec{Net: "tap", Arg: "t1", Prefix: netip.MustParsePrefix("192.168.5.2/24"),
				Gateway: netip.MustParseAddr("192.168.5.1"), Pcap: "x.pcap"}, nil},
		{[]string{"-net", "socket:/s", "-ip", "fd00::2/64", "-gw", "fd00::1"},
			appliance.Spec{Net: "socket", Arg: "/s", Prefix: netip.MustParsePrefix("fd00::2/64"),
				Gateway: netip.MustParseAddr("fd00::1")}, nil},

		{[]string{"-net", "user,nic=virtio"}, appliance.Spec{Net: "user", Listen: def, NIC: "virtio"}, nil},
		{[]string{"-net", "user,nic=xen"}, appliance.Spec{Net: "user", Listen: def, NIC: "xen"}, nil},
		{[]string{"-net", "vhost-user:/tmp/vhost.sock", "-ip", "10.1.0.2/24"}, appliance.Spec{Net: "vhost-user", Arg: "/tmp/vhost.sock", Prefix: netip.MustParsePrefix("10.1.0.2/24")}, nil},
		{[]string{"-net", "xen"}, appliance.Spec{Net: "xen"}, nil},
		{[]string{"-net", "xen:vif-3"}, appliance.Spec{Net: "xen", Arg: "vif-3"}, nil},
		{[]string{"-net", "virtio-pci"}, appliance.Spec{Net: "virtio-pci"}, nil},
		{[]string{"-net", "virtio-pci:0000:00:03.0"}, appliance.Spec{Net: "virtio-pci", Arg: "0000:00:03.0"}, nil},
		{[]string{"-net", "virtio-pci:01:1f.7"}, appliance.Spec{Net: "virtio-pci", Arg: "01:1f.7"}, nil},
		{[]string{"-listen", "127.0.0.1:9000,[::1]:9001=6060,127.0.0.1:0"}, appliance.Spec{Net: "user", Listen: []appliance.ListenAddr{
			{Host: "127.0.0.1:9000"}, {Host: "[::1]:9001", Port: 6060}, {Host: "127.0.0.1:0"}}}, nil},

		{[]string{"-net", "user,nic=e1000"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "user,mtu=9000"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "slirp"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", ""}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap:"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap:a-name-far-too-long"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap:a/b"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap:a,b"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap:,create"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap:t0,create,create"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "socket:"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "socket-listen:"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "kernel:x"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "xen:"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "xen:3"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "xen:vif-x"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "virtio-pci:3"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "virtio-pci:00:20.0"}, appliance.Spec{}, appliance.ErrBadFlag}, // device 32
		{[]string{"-net", "virtio-pci:00:03.8"}, appliance.Spec{}, appliance.ErrBadFlag}, // function 8
		{[]string{"-listen", "8080"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-listen", "127.0.0.1:8080,"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-listen", "127.0.0.1:8080=0"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-listen", "127.0.0.1:8080=http"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-listen", "127.0.0.1:1=80,127.0.0.1:2=80"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-ip", "10.0.2.15"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-ip", "10.0.2.0/24"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-ip", "bogus/24"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-gw", "10.0.2.2"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-ip", "10.0.2.15/24", "-gw", "nope"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-ip", "10.0.2.15/24", "-gw", "10.0.3.1"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "tap:t0", "-ip", "10.0.2.15/24", "-gw", "fd00::1"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-ip", "fd00::2/64"}, appliance.Spec{}, appliance.ErrBadFlag}, // user is IPv4 only
		{[]string{"-net", "kernel", "-ip", "10.0.2.15/24"}, appliance.Spec{}, appliance.ErrBadFlag},
		{[]string{"-net", "kernel", "-pcap", "x.pcap"}, appliance.Spec{}, appliance.ErrBadFlag},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, err := parse(t, tc.args...)
			require.NoError(t, err)
			got, err := f.Parse()
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// everyValue is every -net value of the default table, as the usage lists them.
var everyValue = []string{"user", "user,nic=virtio", "user,nic=xen", "tap:NAME[,create]", "socket:PATH",
	"socket-listen:PATH", "vhost-user:PATH", "virtio-pci[:BDF]", "xen[:vif-N]", "kernel"}

// TestUnknownNetListsEveryValue checks that the error for an unknown -net value, and the
// flag's usage, name every value.
func TestUnknownNetListsEveryValue(t *testing.T) {
	f, err := parse(t, "-net", "bogus")
	require.NoError(t, err)
	_, err = f.Parse()
	require.ErrorIs(t, err, appliance.ErrBadFlag)
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	appliance.Register(fs, nil)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	for _, v := range everyValue {
		assert.Contains(t, err.Error(), v)
		assert.Contains(t, usage.String(), v)
	}
	assert.Contains(t, err.Error(), strings.Join(everyValue[:len(everyValue)-1], ", ")+" or kernel")
}

func TestSpecMode(t *testing.T) {
	for args, want := range map[string]string{
		"":                       "user",
		"-net user,nic=xen":      "user,nic=xen",
		"-net tap:tap0":          "tap:tap0",
		"-net xen":               "xen",
		"-net xen:vif-1":         "xen:vif-1",
		"-net kernel":            "kernel",
		"-net socket-listen:/s":  "socket-listen:/s",
		"-net vhost-user:/v.skt": "vhost-user:/v.skt",
	} {
		f, err := parse(t, strings.Fields(args)...)
		require.NoError(t, err)
		s, err := f.Parse()
		require.NoError(t, err)
		assert.Equal(t, want, s.Mode(), args)
	}
}

// TestVirtioPCIOutsideGuest opens -net virtio-pci for a PCI function this machine does not
// have, outside a guest: the error names the value and the driver package that failed.
func TestVirtioPCIOutsideGuest(t *testing.T) {
	f, err := parse(t, "-net", "virtio-pci:0000:ff:1f.7")
	require.NoError(t, err)
	_, err = f.Open(context.Background(), 80)
	require.Error(t, err)
	require.NotErrorIs(t, err, appliance.ErrNotAvailable)
	require.ErrorContains(t, err, "virtio-pci:0000:ff:1f.7")
	require.ErrorContains(t, err, "virtiopci")
}

// TestDefaultNetInGuest checks the default -net: the user-mode network hosted, and the first
// virtio-net PCI device in an appliance the guest runtime started, netfront in a Xen domain.
func TestDefaultNetInGuest(t *testing.T) {
	f, err := parse(t)
	require.NoError(t, err)
	s, err := f.Parse()
	require.NoError(t, err)
	require.Equal(t, "user", s.Mode())

	t.Setenv(guest.EnvGuest, "1")
	f, err = parse(t)
	require.NoError(t, err)
	s, err = f.Parse()
	require.NoError(t, err)
	require.Equal(t, "virtio-pci", s.Mode())

	// In a Xen domain, netfront on vif-0.
	t.Setenv(guest.EnvHypervisor, guest.HypervisorXen)
	f, err = parse(t)
	require.NoError(t, err)
	s, err = f.Parse()
	require.NoError(t, err)
	require.Equal(t, "xen", s.Mode())
	t.Setenv(guest.EnvHypervisor, "")

	// An application whose table has no virtio-pci keeps the user-mode network.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	g := appliance.Register(fs, &appliance.Nets{})
	require.NoError(t, fs.Parse(nil))
	require.Equal(t, "user", g.Net)
}

// TestXenOutsideXen opens -net xen on a host that is not a Xen domain: the error names the
// devices it needs.
func TestXenOutsideXen(t *testing.T) {
	f, err := parse(t, "-net", "xen:vif-0")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := f.Open(ctx, 80)
	if err == nil {
		n.Close()
		t.Skip("this host is a Xen domain with vif 0; nothing to check")
	}
	require.ErrorContains(t, err, "-net xen:vif-0")
	require.ErrorContains(t, err, "Xen devices")
}

// TestOwnNets registers a -net kind and a NIC driver of the application's own in place of the
// default table: the flags accept only those, and Open uses them.
func TestOwnNets(t *testing.T) {
	opened := ""
	nets := &appliance.Nets{
		Links: []appliance.LinkKind{{Name: "mine", Arg: "X", Open: func(_ context.Context, arg string, _ *slog.Logger) (link.Link, error) {
			opened = arg
			return nil, errors.New("no such device")
		}}},
		NICs: []appliance.NICKind{{Name: "e1000", Attach: func(b link.Link) (link.Link, error) { return b, nil }}},
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := appliance.Register(fs, nets)
	require.NoError(t, fs.Parse([]string{"-net", "tap:tap0"}))
	_, err := f.Parse()
	require.ErrorIs(t, err, appliance.ErrBadFlag)
	require.ErrorContains(t, err, "want user, user,nic=e1000, mine:X or kernel")

	f.Net = "mine:dev7"
	_, err = f.Open(context.Background(), 80)
	require.ErrorContains(t, err, "-net mine:dev7: no such device")
	require.Equal(t, "dev7", opened)

	f.Net = "user,nic=e1000"
	s, err := f.Parse()
	require.NoError(t, err)
	require.Equal(t, "user,nic=e1000", s.Mode())

	nets.Links = append(nets.Links, appliance.LinkKind{Name: "user"})
	_, err = f.Parse()
	require.ErrorContains(t, err, `-net kind "user"`, "a kind may not shadow a built-in one")
}
