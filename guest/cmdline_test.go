package guest

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeArgs(t *testing.T) {
	assert.Equal(t, "", EncodeArgs(nil))
	assert.Equal(t, "unikit.args=-net,virtio-pci,-listen=:80,", EncodeArgs([]string{"-net", "virtio-pci", "-listen=:80"}))
	assert.Equal(t, "unikit.args=-title,My%20%22blog%22%2C%25,,%C3%A9%0A,",
		EncodeArgs([]string{"-title", `My "blog",%`, "", "é\n"}))
}

func TestCmdlineArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmdline string
		want    []string
	}{
		{"none", "console=ttyS0 quiet panic=-1\n", nil},
		{"empty value", "unikit.args= quiet", nil},
		{"plain", "console=ttyS0 unikit.args=-net,virtio-pci, panic=-1\n", []string{"-net", "virtio-pci"}},
		{"one empty argument", "unikit.args=,", []string{""}},
		{"escapes", "unikit.args=-title,My%20%22blog%22%2c,", []string{"-title", `My "blog",`}},
		{"quoted value", `unikit.args="-a,b," x`, []string{"-a", "b"}},
		{"last wins", "unikit.args=a, unikit.args=b,", []string{"b"}},
		{"stops at --", "unikit.args=a, -- unikit.args=b,", []string{"a"}},
		{"quotes hide spaces", `foo="x unikit.args=b," unikit.args=a,`, []string{"a"}},
		{"tabs and newlines", "\tunikit.args=a,\n", []string{"a"}},
		{"other parameter", "unikit.argsx=a, xunikit.args=b,", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CmdlineArgs(tc.cmdline)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCmdlineArgsRefuses(t *testing.T) {
	for _, in := range []string{
		"unikit.args=a",         // no trailing comma
		"unikit.args=%4,",       // truncated escape
		"unikit.args=%,",        // bare percent
		"unikit.args=%zz,",      // not hex
		`unikit.args=a"b,`,      // unescaped quote
		`unikit.args="a b,"`,    // unescaped space inside quotes
		"unikit.args=\"a\tb,\"", // unescaped tab inside quotes
		"unikit.args=\xc3\xa9,", // unescaped non-ASCII
	} {
		_, err := CmdlineArgs(in)
		assert.Error(t, err, in)
	}
}

func FuzzArgsRoundTrip(f *testing.F) {
	f.Add("-net", "virtio-pci", `My "blog", 100%`)
	f.Add("", "\x00\xff", "é")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		args := []string{a, b, c}
		enc := EncodeArgs(args)
		require.True(t, utf8.ValidString(enc))
		require.Len(t, kernelWords(enc), 1, "one kernel word: %q", enc)
		got, err := CmdlineArgs("console=ttyS0 " + enc + " -- ignored")
		require.NoError(t, err)
		require.Equal(t, args, got)
	})
}

func FuzzCmdlineArgs(f *testing.F) {
	f.Add("console=ttyS0 unikit.args=-net,virtio-pci, panic=-1\n")
	f.Add(`a="b c" unikit.args="x%20y," -- z`)
	f.Fuzz(func(t *testing.T, cmdline string) {
		args, err := CmdlineArgs(cmdline)
		if err != nil {
			return
		}
		// What was accepted re-encodes to a parameter that decodes the same.
		again, err := CmdlineArgs(EncodeArgs(args))
		require.NoError(t, err)
		require.Equal(t, len(args), len(again))
	})
}
