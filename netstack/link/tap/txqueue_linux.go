package tap

import (
	"golang.org/x/sys/unix"
)

// raiseTxQueueLen raises the txqueuelen of the device name to least if it is shorter, and
// returns the length the device has then. A process without CAP_NET_ADMIN cannot change it;
// the device then keeps its length, which is returned (0 if even reading it failed).
func raiseTxQueueLen(name string, least int) int {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFTXQLEN, ifr); err != nil {
		return 0
	}
	cur := int(ifr.Uint32())
	if cur >= least {
		return cur
	}
	ifr.SetUint32(uint32(least))
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFTXQLEN, ifr); err != nil {
		return cur
	}
	return least
}
