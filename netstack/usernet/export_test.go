package usernet

// Relays counts n's relays that have not ended.
func Relays(n *Network) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var relays int
	for c := range n.conns {
		if _, ok := c.(*relay); ok {
			relays++
		}
	}
	return relays
}

// ParkedDirections counts n's relay directions parked without a goroutine.
func ParkedDirections(n *Network) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var parked int
	for c := range n.conns {
		if r, ok := c.(*relay); ok {
			for _, h := range []*half{&r.ab, &r.ba} {
				if h.park.state.Load() == stParked {
					parked++
				}
			}
		}
	}
	return parked
}
