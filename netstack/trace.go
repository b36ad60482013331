package netstack

// Names of the runtime/trace regions and tasks the stack marks, which `go tool trace` shows
// beside the goroutines: a region for each batch of frames the link adapter hands the stack
// (receive) or the link (transmit), and a task for each DHCP exchange (a message and its
// retransmissions until the answer), with the message's type logged in it. Regions cost one
// check of trace.IsEnabled when no trace is being taken; the task is made only when one is.
const (
	traceLinkRx       = "unikit.link.rx"
	traceLinkTx       = "unikit.link.tx"
	traceDHCPExchange = "unikit.dhcp.exchange"
)
