package tap

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// txQueueLen reads the device's txqueuelen from sysfs.
func txQueueLen(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/sys/class/net/" + name + "/tx_queue_len")
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return n
}

func TestOpenRaisesTxQueueLen(t *testing.T) {
	peers.Root(t)
	l, err := Open(netns.UniqueName("uktap"), &Config{TxQueueLen: -1})
	require.NoError(t, err)
	kernels := txQueueLen(t, l.Name())
	require.Less(t, kernels, DefaultTxQueueLen, "negative: the kernel's length, left alone")
	require.NoError(t, l.Close())

	l, err = Open(netns.UniqueName("uktap"), nil)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, DefaultTxQueueLen, txQueueLen(t, l.Name()), "raised to the default")

	require.Equal(t, 3*DefaultTxQueueLen, raiseTxQueueLen(l.Name(), 3*DefaultTxQueueLen))
	require.Equal(t, 3*DefaultTxQueueLen, txQueueLen(t, l.Name()))
	require.Equal(t, 3*DefaultTxQueueLen, raiseTxQueueLen(l.Name(), DefaultTxQueueLen), "a longer queue is kept")
	require.Equal(t, 3*DefaultTxQueueLen, txQueueLen(t, l.Name()))
	require.Zero(t, raiseTxQueueLen("uk-no-such-dev", DefaultTxQueueLen))
}
