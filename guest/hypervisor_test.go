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
