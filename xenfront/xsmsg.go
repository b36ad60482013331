package xenfront

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// XsMsgType is a xenstore message type (enum xsd_sockmsg_type, io/xs_wire.h).
type XsMsgType uint32

// Xenstore message types (io/xs_wire.h).
const (
	XsControl          XsMsgType = 0
	XsDirectory        XsMsgType = 1
	XsRead             XsMsgType = 2
	XsGetPerms         XsMsgType = 3
	XsWatch            XsMsgType = 4
	XsUnwatch          XsMsgType = 5
	XsTransactionStart XsMsgType = 6
	XsTransactionEnd   XsMsgType = 7
	XsIntroduce        XsMsgType = 8
	XsRelease          XsMsgType = 9
	XsGetDomainPath    XsMsgType = 10
	XsWrite            XsMsgType = 11
	XsMkdir            XsMsgType = 12
	XsRm               XsMsgType = 13
	XsSetPerms         XsMsgType = 14
	XsWatchEvent       XsMsgType = 15
	XsError            XsMsgType = 16
	XsIsDomainIntro    XsMsgType = 17
	XsResume           XsMsgType = 18
	XsSetTarget        XsMsgType = 19
	XsResetWatches     XsMsgType = 21
	XsDirectoryPart    XsMsgType = 22
	XsInvalid          XsMsgType = 0xffff
)

// XsHeaderLen is the size of struct xsd_sockmsg; XsPayloadMax is XENSTORE_PAYLOAD_MAX.
const (
	XsHeaderLen  = 16
	XsPayloadMax = 4096
)

// XsHeader is struct xsd_sockmsg: four native-endian uint32s.
type XsHeader struct {
	Type  XsMsgType
	ReqID uint32 // echoed in the reply
	TxID  TxID   // transaction, 0 for none
	Len   uint32 // payload length
}

// AppendXsMessage appends a message with header h (its Len is computed) and a payload made of
// parts to dst. It returns ErrProtocol if the payload exceeds XsPayloadMax.
func AppendXsMessage(dst []byte, h XsHeader, parts ...[]byte) ([]byte, error) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > XsPayloadMax {
		return dst, fmt.Errorf("%w: payload of %d bytes", ErrProtocol, n)
	}
	h.Len = uint32(n)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(h.Type))
	dst = binary.LittleEndian.AppendUint32(dst, h.ReqID)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(h.TxID))
	dst = binary.LittleEndian.AppendUint32(dst, h.Len)
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return dst, nil
}

// ParseXsHeader decodes a message header and checks its payload length.
func ParseXsHeader(b []byte) (XsHeader, error) {
	if len(b) < XsHeaderLen {
		return XsHeader{}, fmt.Errorf("%w: short header", ErrProtocol)
	}
	h := XsHeader{
		Type:  XsMsgType(binary.LittleEndian.Uint32(b[0:])),
		ReqID: binary.LittleEndian.Uint32(b[4:]),
		TxID:  TxID(binary.LittleEndian.Uint32(b[8:])),
		Len:   binary.LittleEndian.Uint32(b[12:]),
	}
	if h.Len > XsPayloadMax {
		return XsHeader{}, fmt.Errorf("%w: payload length %d", ErrProtocol, h.Len)
	}
	return h, nil
}

// ParseXsMessage decodes one whole message from b and returns its header, its payload (a
// sub-slice of b) and the number of bytes it took.
func ParseXsMessage(b []byte) (XsHeader, []byte, int, error) {
	h, err := ParseXsHeader(b)
	if err != nil {
		return h, nil, 0, err
	}
	end := XsHeaderLen + int(h.Len)
	if len(b) < end {
		return h, nil, 0, fmt.Errorf("%w: truncated payload", ErrProtocol)
	}
	return h, b[XsHeaderLen:end], end, nil
}

// ReadXsMessage reads one message from r into buf, which must hold at least
// XsHeaderLen+XsPayloadMax bytes, and returns its header and payload (a sub-slice of buf).
func ReadXsMessage(r io.Reader, buf []byte) (XsHeader, []byte, error) {
	if _, err := io.ReadFull(r, buf[:XsHeaderLen]); err != nil {
		return XsHeader{}, nil, err
	}
	h, err := ParseXsHeader(buf)
	if err != nil {
		return h, nil, err
	}
	p := buf[XsHeaderLen : XsHeaderLen+int(h.Len)]
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// SplitNul splits a payload of NUL-terminated strings (a DIRECTORY reply, a WATCH_EVENT). A
// final string without terminator is kept; empty payloads give no strings.
func SplitNul(p []byte) []string {
	var out []string
	for len(p) > 0 {
		i := bytes.IndexByte(p, 0)
		if i < 0 {
			out = append(out, string(p))
			break
		}
		out = append(out, string(p[:i]))
		p = p[i+1:]
	}
	return out
}

// ParseWatchEvent decodes a WATCH_EVENT payload: "path\0token\0".
func ParseWatchEvent(p []byte) (path, token string, err error) {
	parts := SplitNul(p)
	if len(parts) < 2 {
		return "", "", fmt.Errorf("%w: watch event without token", ErrProtocol)
	}
	return parts[0], parts[1], nil
}

// String names a message type.
func (t XsMsgType) String() string {
	names := map[XsMsgType]string{XsControl: "CONTROL", XsDirectory: "DIRECTORY", XsRead: "READ",
		XsGetPerms: "GET_PERMS", XsWatch: "WATCH", XsUnwatch: "UNWATCH",
		XsTransactionStart: "TRANSACTION_START", XsTransactionEnd: "TRANSACTION_END",
		XsIntroduce: "INTRODUCE", XsRelease: "RELEASE", XsGetDomainPath: "GET_DOMAIN_PATH",
		XsWrite: "WRITE", XsMkdir: "MKDIR", XsRm: "RM", XsSetPerms: "SET_PERMS",
		XsWatchEvent: "WATCH_EVENT", XsError: "ERROR", XsIsDomainIntro: "IS_DOMAIN_INTRODUCED",
		XsResume: "RESUME", XsSetTarget: "SET_TARGET", XsResetWatches: "RESET_WATCHES",
		XsDirectoryPart: "DIRECTORY_PART", XsInvalid: "INVALID"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("XsMsgType(%d)", uint32(t))
}
