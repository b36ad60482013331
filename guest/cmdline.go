package guest

import (
	"fmt"
	"strings"
)

// ArgsParam is the kernel command line parameter that carries the appliance's arguments:
// "unikit.args=" followed by each argument, percent-encoded, and a comma after each one.
//
//	unikit.args=-net,virtio-pci,-title,My%20blog,
//
// One parameter rather than words after "--": the kernel hands words after "--" to init as
// its arguments but panics before starting init if there are more than 32 of them
// (CONFIG_INIT_ENV_ARG_LIMIT), and it cannot quote a double quote. A parameter with a dot in
// its name is left alone by the kernel (an unknown module parameter), so it reaches neither
// init's arguments nor its environment; [CmdlineArgs] reads it back from /proc/cmdline.
const ArgsParam = "unikit.args"

// EncodeArgs returns the kernel command line parameter that carries args ([ArgsParam]), to
// append to the kernel's own parameters after a space; "" for no arguments. Every byte that
// is not printable ASCII, and '%', '"' and ',', is written as %XX, so the result is one word
// the kernel and boot loaders pass through unchanged. The kernel limits its whole command line
// to 2048 bytes on x86 and arm64.
func EncodeArgs(args []string) string {
	if len(args) == 0 {
		return ""
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(ArgsParam + "=")
	for _, a := range args {
		for _, c := range []byte(a) {
			if c <= ' ' || c >= 0x7f || c == '%' || c == '"' || c == ',' {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			} else {
				b.WriteByte(c)
			}
		}
		b.WriteByte(',')
	}
	return b.String()
}

// CmdlineArgs returns the appliance's arguments from a kernel command line (the contents of
// /proc/cmdline): the value of the last [ArgsParam] parameter, decoded, or none if there is
// no such parameter. Parameters are split as the kernel splits them (spaces outside double
// quotes; quotes around a value are dropped), and parsing stops at "--", after which the
// words are init's own arguments, not parameters. A value that EncodeArgs cannot have written
// is an error.
func CmdlineArgs(cmdline string) ([]string, error) {
	value, found := "", false
	for _, word := range kernelWords(cmdline) {
		if word == "--" {
			break
		}
		name, v, ok := strings.Cut(word, "=")
		if !ok || name != ArgsParam {
			continue
		}
		value, found = unquote(v), true
	}
	if !found || value == "" {
		return nil, nil
	}
	if !strings.HasSuffix(value, ",") {
		return nil, fmt.Errorf("guest: %s=%q: each argument must end with a comma", ArgsParam, value)
	}
	var args []string
	for enc := range strings.SplitSeq(strings.TrimSuffix(value, ","), ",") {
		a, err := unescape(enc)
		if err != nil {
			return nil, fmt.Errorf("guest: %s: %w", ArgsParam, err)
		}
		args = append(args, a)
	}
	return args, nil
}

// kernelWords splits a command line as the kernel's next_arg does: at spaces outside double
// quotes. Quotes stay in the words.
func kernelWords(s string) []string {
	var words []string
	inQuote, start := false, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
		switch {
		case space && !inQuote:
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			continue
		case start < 0:
			start = i
		}
		if c == '"' {
			inQuote = !inQuote
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// unquote drops the double quotes around a parameter value, as the kernel does.
func unquote(v string) string {
	if strings.HasPrefix(v, `"`) {
		v = strings.TrimSuffix(v[1:], `"`)
	}
	return v
}

// unescape decodes %XX escapes; any other '%', and the bytes EncodeArgs always escapes, are
// errors.
func unescape(s string) (string, error) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			hi, ok1 := unhex(s, i+1)
			lo, ok2 := unhex(s, i+2)
			if !ok1 || !ok2 {
				return "", fmt.Errorf("bad escape in %q", s)
			}
			b = append(b, hi<<4|lo)
			i += 2
		default:
			if c <= ' ' || c >= 0x7f || c == '"' {
				return "", fmt.Errorf("unescaped %q in %q", c, s)
			}
			b = append(b, c)
		}
	}
	return string(b), nil
}

// unhex returns the value of the hexadecimal digit s[i], false if there is none.
func unhex(s string, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
