package usernet

// HostConnsPark says whether a relay direction whose source is a host connection parks.
const HostConnsPark = true

// KernelRegistrations counts the registrations on n's epoll instance of parked host
// connections (making the instance if no relay has yet).
func KernelRegistrations(n *Network) int {
	p := n.epollPoller()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.regs)
}
