package netstack

import (
	"io"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// errno translates a gVisor error into the error a kernel socket reports in its place, so that
// callers test it with errors.Is as they would on package net's connections:
// errors.Is(err, syscall.ECONNREFUSED) and so on.
//
// This is the package's one translation table. Most entries give the errno Linux returns for
// the same condition. Three are not an errno: the end of the peer's data is io.EOF, as
// package net reports it; a nil error stays nil; and an error this table does not know (one
// a later gVisor adds) becomes EINVAL, so that it never turns into nil. The callers add
// net.ErrClosed and os.ErrDeadlineExceeded themselves: those describe the connection, not the
// endpoint.
func errno(terr tcpip.Error) error {
	switch terr.(type) {
	case nil:
		return nil
	case *tcpip.ErrClosedForReceive:
		return io.EOF

	// Connection set-up and teardown.
	case *tcpip.ErrConnectionRefused:
		return syscall.ECONNREFUSED
	case *tcpip.ErrConnectionReset:
		return syscall.ECONNRESET
	case *tcpip.ErrConnectionAborted, *tcpip.ErrAborted:
		return syscall.ECONNABORTED
	case *tcpip.ErrTimeout: // retransmissions, keepalives or TCP_USER_TIMEOUT ran out
		return syscall.ETIMEDOUT
	case *tcpip.ErrClosedForSend:
		return syscall.EPIPE
	case *tcpip.ErrNotConnected:
		return syscall.ENOTCONN
	case *tcpip.ErrAlreadyConnected:
		return syscall.EISCONN
	case *tcpip.ErrAlreadyConnecting:
		return syscall.EALREADY
	case *tcpip.ErrConnectStarted:
		return syscall.EINPROGRESS
	case *tcpip.ErrWouldBlock:
		return syscall.EAGAIN

	// Addresses and routes.
	case *tcpip.ErrPortInUse, *tcpip.ErrDuplicateAddress:
		return syscall.EADDRINUSE
	case *tcpip.ErrBadLocalAddress, *tcpip.ErrNoPortAvailable:
		return syscall.EADDRNOTAVAIL
	case *tcpip.ErrHostUnreachable:
		return syscall.EHOSTUNREACH
	case *tcpip.ErrHostDown:
		return syscall.EHOSTDOWN
	case *tcpip.ErrNetworkUnreachable, *tcpip.ErrNoNet: // ENONET exists on Linux only
		return syscall.ENETUNREACH
	case *tcpip.ErrDestinationRequired:
		return syscall.EDESTADDRREQ
	case *tcpip.ErrAddressFamilyNotSupported:
		return syscall.EAFNOSUPPORT
	case *tcpip.ErrBroadcastDisabled:
		return syscall.EACCES
	case *tcpip.ErrBadAddress, *tcpip.ErrBadBuffer:
		return syscall.EFAULT

	// Sizes and resources.
	case *tcpip.ErrMessageTooLong:
		return syscall.EMSGSIZE
	case *tcpip.ErrNoBufferSpace:
		return syscall.ENOBUFS
	case *tcpip.ErrEndpointBusy:
		return syscall.EBUSY

	// Options, protocols and devices.
	case *tcpip.ErrNotSupported:
		return syscall.EOPNOTSUPP
	case *tcpip.ErrQueueSizeNotSupported:
		return syscall.ENOTTY
	case *tcpip.ErrUnknownProtocol:
		return syscall.EPROTONOSUPPORT
	case *tcpip.ErrUnknownProtocolOption:
		return syscall.ENOPROTOOPT
	case *tcpip.ErrUnknownDevice:
		return syscall.ENODEV
	case *tcpip.ErrDuplicateNICID:
		return syscall.EEXIST
	case *tcpip.ErrNoSuchFile:
		return syscall.ENOENT
	case *tcpip.ErrNotPermitted:
		return syscall.EPERM

	// Invalid requests.
	case *tcpip.ErrInvalidEndpointState, *tcpip.ErrAlreadyBound, *tcpip.ErrInvalidOptionValue,
		*tcpip.ErrInvalidNICID, *tcpip.ErrUnknownNICID, *tcpip.ErrInvalidPortRange,
		*tcpip.ErrMalformedHeader, *tcpip.ErrMissingRequiredFields,
		*tcpip.ErrMulticastInputCannotBeOutput:
		return syscall.EINVAL
	}
	return syscall.EINVAL
}
