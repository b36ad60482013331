package netstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// TestErrno checks the translation table entry by entry: every gVisor error this gVisor
// version defines, and what errors.Is finds in its place.
func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		terr tcpip.Error
		want error
	}{
		{&tcpip.ErrClosedForReceive{}, io.EOF},
		{&tcpip.ErrConnectionRefused{}, syscall.ECONNREFUSED},
		{&tcpip.ErrConnectionReset{}, syscall.ECONNRESET},
		{&tcpip.ErrConnectionAborted{}, syscall.ECONNABORTED},
		{&tcpip.ErrAborted{}, syscall.ECONNABORTED},
		{&tcpip.ErrTimeout{}, syscall.ETIMEDOUT},
		{&tcpip.ErrClosedForSend{}, syscall.EPIPE},
		{&tcpip.ErrNotConnected{}, syscall.ENOTCONN},
		{&tcpip.ErrAlreadyConnected{}, syscall.EISCONN},
		{&tcpip.ErrAlreadyConnecting{}, syscall.EALREADY},
		{&tcpip.ErrConnectStarted{}, syscall.EINPROGRESS},
		{&tcpip.ErrWouldBlock{}, syscall.EAGAIN},
		{&tcpip.ErrPortInUse{}, syscall.EADDRINUSE},
		{&tcpip.ErrDuplicateAddress{}, syscall.EADDRINUSE},
		{&tcpip.ErrBadLocalAddress{}, syscall.EADDRNOTAVAIL},
		{&tcpip.ErrNoPortAvailable{}, syscall.EADDRNOTAVAIL},
		{&tcpip.ErrHostUnreachable{}, syscall.EHOSTUNREACH},
		{&tcpip.ErrHostDown{}, syscall.EHOSTDOWN},
		{&tcpip.ErrNetworkUnreachable{}, syscall.ENETUNREACH},
		{&tcpip.ErrNoNet{}, syscall.ENETUNREACH},
		{&tcpip.ErrDestinationRequired{}, syscall.EDESTADDRREQ},
		{&tcpip.ErrAddressFamilyNotSupported{}, syscall.EAFNOSUPPORT},
		{&tcpip.ErrBroadcastDisabled{}, syscall.EACCES},
		{&tcpip.ErrBadAddress{}, syscall.EFAULT},
		{&tcpip.ErrBadBuffer{}, syscall.EFAULT},
		{&tcpip.ErrMessageTooLong{}, syscall.EMSGSIZE},
		{&tcpip.ErrNoBufferSpace{}, syscall.ENOBUFS},
		{&tcpip.ErrEndpointBusy{}, syscall.EBUSY},
		{&tcpip.ErrNotSupported{}, syscall.EOPNOTSUPP},
		{&tcpip.ErrQueueSizeNotSupported{}, syscall.ENOTTY},
		{&tcpip.ErrUnknownProtocol{}, syscall.EPROTONOSUPPORT},
		{&tcpip.ErrUnknownProtocolOption{}, syscall.ENOPROTOOPT},
		{&tcpip.ErrUnknownDevice{}, syscall.ENODEV},
		{&tcpip.ErrDuplicateNICID{}, syscall.EEXIST},
		{&tcpip.ErrNoSuchFile{}, syscall.ENOENT},
		{&tcpip.ErrNotPermitted{}, syscall.EPERM},
		{&tcpip.ErrInvalidEndpointState{}, syscall.EINVAL},
		{&tcpip.ErrAlreadyBound{}, syscall.EINVAL},
		{&tcpip.ErrInvalidOptionValue{}, syscall.EINVAL},
		{&tcpip.ErrInvalidNICID{}, syscall.EINVAL},
		{&tcpip.ErrUnknownNICID{}, syscall.EINVAL},
		{&tcpip.ErrInvalidPortRange{}, syscall.EINVAL},
		{&tcpip.ErrMalformedHeader{}, syscall.EINVAL},
		{&tcpip.ErrMissingRequiredFields{}, syscall.EINVAL},
		{&tcpip.ErrMulticastInputCannotBeOutput{}, syscall.EINVAL},
	} {
		t.Run(fmt.Sprintf("%T", tc.terr), func(t *testing.T) {
			assert.Equal(t, tc.want, errno(tc.terr))
			err := sysError("read", tc.terr)
			require.ErrorIs(t, err, tc.want)
			if tc.want == io.EOF {
				assert.Equal(t, io.EOF, err, "io.EOF is returned unwrapped")
				return
			}
			var se *os.SyscallError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "read", se.Syscall)
		})
	}
	assert.NoError(t, errno(nil))
	assert.NoError(t, sysError("read", nil))
}

// TestErrnoMessages checks that the messages read as package net's do on Linux.
func TestErrnoMessages(t *testing.T) {
	assert.Equal(t, "connect: connection refused", sysError("connect", &tcpip.ErrConnectionRefused{}).Error())
	assert.Equal(t, "read: connection reset by peer", sysError("read", &tcpip.ErrConnectionReset{}).Error())
}

// TestContextError checks the errors of a dial ended by its context against package net's
// own: the same message, Timeout only for a deadline, and errors.Is finding the context error.
func TestContextError(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	for _, ctx := range []context.Context{canceled, expired} {
		var d net.Dialer
		_, netErr := d.DialContext(ctx, "tcp", "127.0.0.1:1") // fails before any system call
		var oe *net.OpError
		require.ErrorAs(t, netErr, &oe)

		got := contextError{ctx.Err()}
		assert.Equal(t, oe.Err.Error(), got.Error())
		assert.Equal(t, oe.Timeout(), got.Timeout())
		assert.ErrorIs(t, got, ctx.Err())
		assert.ErrorIs(t, netErr, ctx.Err())
	}
}
