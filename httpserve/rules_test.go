package httpserve

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A redirect target becomes a Location field: one with a control character or a backslash
// is refused with a warning (FuzzRules found "\x1e" getting through).
func TestParseRedirectsRefusesBadTargets(t *testing.T) {
	for _, to := range []string{"/b\x1e", "/b\x7f", "/b\x00", "/b\\c", "https://x\x01y/"} {
		rules, warnings := parseRedirects("/a " + to + " 301\n")
		require.Empty(t, rules, "%q", to)
		require.Equal(t, []string{"_redirects:1: bad target"}, warnings, "%q", to)
	}
	rules, warnings := parseRedirects("/a /b?x=1&y=%20 301\n")
	require.Len(t, rules, 1)
	require.Empty(t, warnings)
}
