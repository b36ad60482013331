package virtio

import "fmt"

// The conversation with one backend connection: the handshake, and requests sent one at a
// time under msgMu, acknowledged by the backend once REPLY_ACK is negotiated. The messages'
// layouts and framing are in vhostuser_wire_linux.go.

// hello takes ownership of the backend (SET_OWNER), returns its features and, when it offers
// protocol features, negotiates those this frontend uses.
func (t *vhostUserTransport) hello() (uint64, error) {
	t.setProtocol(0, 0)
	if err := t.send(vhuSetOwner, nil); err != nil {
		return 0, err
	}
	features, err := t.requestU64(vhuGetFeatures, nil)
	if err != nil || features&vhuProtocolFeatures == 0 {
		return features, err
	}
	offered, err := t.requestU64(vhuGetProtocolFeatures, nil)
	if err != nil {
		return 0, err
	}
	protocol := offered & vhuProtocolSupported
	p := vhuU64(protocol)
	if err := t.send(vhuSetProtocolFeatures, p[:]); err != nil {
		return 0, err
	}
	pairs := 0
	if protocol&VhostUserProtocolMQ != 0 {
		n, err := t.requestU64(vhuGetQueueNum, nil)
		if err != nil {
			return 0, err
		}
		if n == 0 || n > 0x8000 { // virtio-net allows at most 0x8000 pairs
			return 0, fmt.Errorf("%w: vhost-user backend reports %d queue pairs", ErrDeviceBroken, n)
		}
		pairs = int(n)
	}
	t.setProtocol(protocol, pairs)
	return features, nil
}

func (t *vhostUserTransport) setProtocol(protocol uint64, pairs int) {
	t.msgMu.Lock()
	t.protocol, t.queuePairs = protocol, pairs
	t.msgMu.Unlock()
}

func (t *vhostUserTransport) protocolFeatures() uint64 {
	t.msgMu.Lock()
	defer t.msgMu.Unlock()
	return t.protocol
}

// send writes one message with optional file descriptors. Once REPLY_ACK is negotiated it
// asks for the backend's acknowledgement and waits for it.
func (t *vhostUserTransport) send(req vhuRequest, payload []byte, fds ...int) error {
	t.msgMu.Lock()
	defer t.msgMu.Unlock()
	if t.protocol&VhostUserProtocolReplyAck == 0 {
		return writeMessage(t.conn, t.timeout, req, 0, payload, fds...)
	}
	if err := writeMessage(t.conn, t.timeout, req, vhuNeedReply, payload, fds...); err != nil {
		return err
	}
	body, err := readReply(t.conn, t.timeout, req)
	if err != nil {
		return err
	}
	status, err := replyU64(req, body)
	if err != nil {
		return err
	}
	if status != 0 {
		return fmt.Errorf("%w: %v, status %d", ErrVhostUserRefused, req, status)
	}
	return nil
}

// request sends a message and reads its reply's payload, checking that it answers it.
func (t *vhostUserTransport) request(req vhuRequest, payload []byte) ([]byte, error) {
	t.msgMu.Lock()
	defer t.msgMu.Unlock()
	if err := writeMessage(t.conn, t.timeout, req, 0, payload); err != nil {
		return nil, err
	}
	return readReply(t.conn, t.timeout, req)
}

// requestU64 sends a message whose reply is a u64 and returns it.
func (t *vhostUserTransport) requestU64(req vhuRequest, payload []byte) (uint64, error) {
	body, err := t.request(req, payload)
	if err != nil {
		return 0, err
	}
	return replyU64(req, body)
}
