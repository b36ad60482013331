package xenstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// MsgType is a xenstore message type (enum xsd_sockmsg_type, io/xs_wire.h).
type MsgType uint32

// Xenstore message types (io/xs_wire.h).
const (
	MsgControl          MsgType = 0
	MsgDirectory        MsgType = 1
	MsgRead             MsgType = 2
	MsgGetPerms         MsgType = 3
	MsgWatch            MsgType = 4
	MsgUnwatch          MsgType = 5
	MsgTransactionStart MsgType = 6
	MsgTransactionEnd   MsgType = 7
	MsgIntroduce        MsgType = 8
	MsgRelease          MsgType = 9
	MsgGetDomainPath    MsgType = 10
	MsgWrite            MsgType = 11
	MsgMkdir            MsgType = 12
	MsgRm               MsgType = 13
	MsgSetPerms         MsgType = 14
	MsgWatchEvent       MsgType = 15
	MsgError            MsgType = 16
	MsgIsDomainIntro    MsgType = 17
	MsgResume           MsgType = 18
	MsgSetTarget        MsgType = 19
	MsgResetWatches     MsgType = 21
	MsgDirectoryPart    MsgType = 22
	MsgInvalid          MsgType = 0xffff
)

// HeaderLen is the size of struct xsd_sockmsg; PayloadMax is XENSTORE_PAYLOAD_MAX.
const (
	HeaderLen  = 16
	PayloadMax = 4096
)

// Header is struct xsd_sockmsg: four native-endian uint32s.
type Header struct {
	Type  MsgType
	ReqID uint32 // echoed in the reply
	TxID  TxID   // transaction, 0 for none
	Len   uint32 // payload length
}

// AppendMessage appends a message with header h (its Len is computed) and a payload made of
// parts to dst. It returns ErrProtocol if the payload exceeds PayloadMax.
func AppendMessage(dst []byte, h Header, parts ...[]byte) ([]byte, error) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > PayloadMax {
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

// ParseHeader decodes a message header and checks its payload length.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: short header", ErrProtocol)
	}
	h := Header{
		Type:  MsgType(binary.LittleEndian.Uint32(b[0:])),
		ReqID: binary.LittleEndian.Uint32(b[4:]),
		TxID:  TxID(binary.LittleEndian.Uint32(b[8:])),
		Len:   binary.LittleEndian.Uint32(b[12:]),
	}
	if h.Len > PayloadMax {
		return Header{}, fmt.Errorf("%w: payload length %d", ErrProtocol, h.Len)
	}
	return h, nil
}

// ParseMessage decodes one whole message from b and returns its header, its payload (a
// sub-slice of b) and the number of bytes it took.
func ParseMessage(b []byte) (Header, []byte, int, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, 0, err
	}
	end := HeaderLen + int(h.Len)
	if len(b) < end {
		return h, nil, 0, fmt.Errorf("%w: truncated payload", ErrProtocol)
	}
	return h, b[HeaderLen:end], end, nil
}

// ReadMessage reads one message from r into buf, which must hold at least
// HeaderLen+PayloadMax bytes, and returns its header and payload (a sub-slice of buf).
func ReadMessage(r io.Reader, buf []byte) (Header, []byte, error) {
	if _, err := io.ReadFull(r, buf[:HeaderLen]); err != nil {
		return Header{}, nil, err
	}
	h, err := ParseHeader(buf)
	if err != nil {
		return h, nil, err
	}
	p := buf[HeaderLen : HeaderLen+int(h.Len)]
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
func (t MsgType) String() string {
	names := map[MsgType]string{MsgControl: "CONTROL", MsgDirectory: "DIRECTORY", MsgRead: "READ",
		MsgGetPerms: "GET_PERMS", MsgWatch: "WATCH", MsgUnwatch: "UNWATCH",
		MsgTransactionStart: "TRANSACTION_START", MsgTransactionEnd: "TRANSACTION_END",
		MsgIntroduce: "INTRODUCE", MsgRelease: "RELEASE", MsgGetDomainPath: "GET_DOMAIN_PATH",
		MsgWrite: "WRITE", MsgMkdir: "MKDIR", MsgRm: "RM", MsgSetPerms: "SET_PERMS",
		MsgWatchEvent: "WATCH_EVENT", MsgError: "ERROR", MsgIsDomainIntro: "IS_DOMAIN_INTRODUCED",
		MsgResume: "RESUME", MsgSetTarget: "SET_TARGET", MsgResetWatches: "RESET_WATCHES",
		MsgDirectoryPart: "DIRECTORY_PART", MsgInvalid: "INVALID"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("MsgType(%d)", uint32(t))
}
