// Package peers decides what a test does when a real peer it needs (a program such as passt or
// dnsmasq, or root privileges) is missing: it skips with a message naming what is missing, or,
// when UNIKIT_PEERS=require (set by .ci/run, which installs every peer), it fails.
package peers

import (
	"os"
	"os/exec"
	"testing"
)

// EnvVar is the environment variable that turns missing peers into failures.
const EnvVar = "UNIKIT_PEERS"

// Required reports whether missing peers must fail tests rather than skip them.
func Required() bool { return os.Getenv(EnvVar) == "require" }

// Missing skips t, or fails it under UNIKIT_PEERS=require, saying what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("peer missing: %s (%s=require)", what, EnvVar)
	}
	t.Skipf("peer missing: %s (set %s=require to fail instead)", what, EnvVar)
}

// Program returns the path of the named program, or skips or fails t when it is not installed.
// debianPkg names the Debian package that provides it, for the message.
func Program(t testing.TB, name, debianPkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" (apt-get install "+debianPkg+")")
	}
	return p
}

// Root skips or fails t unless it runs as root, which network namespaces and TAP devices need.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root privileges (network namespaces, TAP devices)")
	}
}
