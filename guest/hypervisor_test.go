package guest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHypervisorType reads the hypervisor's name as a Xen domain's sysfs shows it, and finds
// none where the file is missing, as in a KVM or TCG guest.
func TestHypervisorType(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "type")
	require.Equal(t, "", hypervisorType(p))
	require.NoError(t, os.WriteFile(p, []byte("xen\n"), 0o444))
	require.Equal(t, HypervisorXen, hypervisorType(p))
}

// TestInXen checks that only an appliance the init started in a Xen domain counts as in Xen.
func TestInXen(t *testing.T) {
	t.Setenv(EnvGuest, "")
	t.Setenv(EnvHypervisor, HypervisorXen)
	require.False(t, InXen(), "not started by the guest runtime")
	t.Setenv(EnvGuest, "1")
	require.True(t, InXen())
	t.Setenv(EnvHypervisor, "")
	require.False(t, InXen())
}

// TestXenModulesLeaveNetfrontOut checks the Xen modules: the devices -net xen opens, and not
// Linux's xen-netfront, which would take the vif.
func TestXenModulesLeaveNetfrontOut(t *testing.T) {
	mods := XenModules()
	require.Subset(t, mods, []string{"xen-privcmd", "xenfs", "xen-evtchn", "xen-gntalloc"})
	require.NotContains(t, mods, "xen-netfront")
}

// TestRaiseGrantLimit raises gntalloc's default limit to XenGrantLimit and leaves a higher one.
func TestRaiseGrantLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "limit")
	require.Error(t, raiseGrantLimit(p), "no module loaded")
	require.NoError(t, os.WriteFile(p, []byte("1024\n"), 0o644))
	require.NoError(t, raiseGrantLimit(p))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "16384", string(b))
	require.NoError(t, os.WriteFile(p, []byte("65536\n"), 0o644))
	require.NoError(t, raiseGrantLimit(p))
	b, err = os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "65536\n", string(b))
}
