// Package netns is the network-namespace harness for tests that use the Linux kernel as a real
// peer: it creates network namespaces with unique names (deleted through t.Cleanup), veth
// pairs, TAP devices inside namespaces, addresses and routes, and runs programs or Go code
// inside a namespace.
//
// Everything goes through iproute2's `ip` program, so the tests that use it need root (checked
// with [peers.Root]) and the Debian package iproute2. Names include the process ID and a random
// suffix because several test binaries run at the same time on one machine.
//
// # Running Go code inside a namespace
//
// A process's goroutines share OS threads, and a network namespace belongs to a thread, so a
// test cannot simply switch namespaces. [NS.Do] runs a function on a dedicated, locked OS
// thread that has joined the namespace; the thread is never returned to the Go scheduler (it
// exits with the goroutine). Sockets are bound to the namespace they were created in, so a
// listener or connection created inside Do stays in the namespace and may then be used from
// any goroutine. Programs run inside a namespace through `ip netns exec` ([NS.Command]).
//
// The package is Linux-only; on other systems every helper skips or fails the test through
// [peers.Missing].
package netns
