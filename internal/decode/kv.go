package decode

// kvScanner reads the key=value pairs of FortiGate, Sophos and SonicWall logs, one at a time
// and without allocating: values are quoted ("a b", with \" inside) when they may hold spaces,
// and bare otherwise; pairs are separated by spaces or tabs.
type kvScanner struct {
	s      string
	format string // for errors: the decoder reading the pairs
	single bool   // values may also be quoted with ' (SonicWall's appName='General HTTPS')
}

// next returns the next pair, or ok == false at the end. A value with escaped quotes is
// unescaped into a new string.
func (k *kvScanner) next() (key, v string, ok bool, err error) {
	s := trimSpaceLeft(k.s)
	if s == "" {
		k.s = ""
		return "", "", false, nil
	}
	i := 0
	for i < len(s) && keyByte(s[i]) {
		i++
	}
	if i == 0 || i == len(s) || s[i] != '=' {
		return "", "", false, failAs(k.format, ReasonSyntax, "want key=value at "+quoteShort(s))
	}
	key = s[:i]
	s = s[i+1:]
	if s != "" && (s[0] == '"' || k.single && s[0] == '\'') {
		s0 := s[0]
		end, escaped := indexUnescaped(s[1:], s0)
		if end < 0 {
			return "", "", false, failAs(k.format, ReasonSyntax, "unclosed quote in "+key+"=")
		}
		v, s = s[1:1+end], s[2+end:]
		if escaped && s0 == '"' {
			v = unescape(v, `"\`)
		} else if escaped {
			v = unescape(v, `'\`)
		}
		if s != "" && s[0] != ' ' && s[0] != '\t' {
			return "", "", false, failAs(k.format, ReasonSyntax, "no space after "+key+"=\"...\"")
		}
	} else {
		i := 0
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		v, s = s[:i], s[i:]
	}
	k.s = s
	return key, v, true, nil
}
