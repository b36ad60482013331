//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

// xenbusPaths are where the kernel's xenbus device may be: the xen-privcmd/xenfs misc device,
// then the older xenfs file.
var xenbusPaths = []string{"/dev/xen/xenbus", "/proc/xen/xenbus"}

// OpenStore opens /dev/xen/xenbus (or the older /proc/xen/xenbus) twice and returns a Store
// on the two files (see Store for why two). The device speaks the xenstore wire protocol
// (struct xsd_sockmsg messages) as a byte stream: the kernel forwards requests to xenstored,
// answers XS_WATCH and XS_UNWATCH itself and delivers XS_WATCH_EVENT messages, so
// xenstore.Client runs on each file unchanged. Relative paths resolve below
// /local/domain/<this domain's id>.
func OpenStore() (*Store, error) {
	requests, err := openDevice(xenbusPaths...)
	if err != nil {
		return nil, err
	}
	watches, err := openDevice(xenbusPaths...)
	if err != nil {
		requests.Close()
		return nil, err
	}
	return newStore(requests, watches), nil
}
