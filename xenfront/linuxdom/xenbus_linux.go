//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import "github.com/unikit/unikit/xenfront/xenstore"

// OpenStore opens /dev/xen/xenbus (or the older /proc/xen/xenbus) and returns a xenstore
// client on it. The device speaks the xenstore wire protocol (struct xsd_sockmsg messages) as
// a byte stream: the kernel forwards requests to xenstored, answers XS_WATCH and XS_UNWATCH
// itself, and delivers XS_WATCH_EVENT messages, so xenstore.Client runs on it unchanged.
// Relative paths resolve below /local/domain/<this domain's id>.
func OpenStore() (*xenstore.Client, error) {
	d, err := openDevice("/dev/xen/xenbus", "/proc/xen/xenbus")
	if err != nil {
		return nil, err
	}
	return xenstore.NewClient(d), nil
}
