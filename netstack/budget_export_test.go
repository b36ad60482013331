package netstack

// This file exports the TCP buffer budget's state to the package's external tests.

// SendShare returns the most a connection's send buffer may grow to now, and ReceiveShare
// the same for receive buffers.
func SendShare(s *Stack) int {
	s.budget.mu.Lock()
	defer s.budget.mu.Unlock()
	return s.budget.sendShare
}

// ReceiveShare: see SendShare.
func ReceiveShare(s *Stack) int {
	s.budget.mu.Lock()
	defer s.budget.mu.Unlock()
	return s.budget.receiveShare
}

// SendBufferSize returns c's send buffer size.
func SendBufferSize(c *TCPConn) int { return int(c.ep.SocketOptions().GetSendBufferSize()) }

// GrowSendBuffer sets c's send buffer size as auto-tuning does.
func GrowSendBuffer(c *TCPConn, size int) { c.ep.SocketOptions().SetSendBufferSize(int64(size), false) }
