package etcdtest

import "runtime"

// archName is what ETCD_UNSUPPORTED_ARCH must say for etcd to start on this machine's
// architecture if etcd does not support it officially (arm, 386); ignored on amd64 and arm64.
func archName() string { return runtime.GOARCH }
