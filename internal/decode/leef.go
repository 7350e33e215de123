package decode

import (
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// LEEF, IBM QRadar's Log Event Extended Format, is a header and attributes:
//
//	LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0<TAB>dst=172.50.123.1<TAB>sev=5<TAB>usrName=joe.black
//	LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21
//
// (IBM QRadar DSM guide, "LEEF event components"): version, vendor, product, product version,
// event id, and in 2.0 the attribute delimiter (a character, or its code as x5E or 0x5E; a
// tab when empty). The predefined attributes fill ECS fields; every attribute is kept as
// leef.<key>. Check Point's Log Exporter sends LEEF with its own field names among the
// predefined ones, which its field map reads as it reads the syslog form.

// leef decodes the LEEF record s into e.
func (d *textDecoder) leef(e *event.Event, s string) error {
	e.Format, e.Dataset = "leef", "leef"
	var hdr [5]string
	rest := s[len("LEEF:"):]
	for i := range hdr {
		j := strings.IndexByte(rest, '|')
		if j < 0 {
			return failAs("leef", ReasonSyntax, "the header has fewer than six fields")
		}
		hdr[i], rest = rest[:j], rest[j+1:]
	}
	version, vendor, product, eventID := hdr[0], hdr[1], hdr[2], hdr[4]
	delim := "\t"
	if strings.HasPrefix(version, "2") {
		j := strings.IndexByte(rest, '|')
		if j < 0 {
			return failAs("leef", ReasonSyntax, "LEEF 2.0 without its delimiter field")
		}
		dl := rest[:j]
		rest = rest[j+1:]
		switch {
		case dl == "":
		case len(dl) == 1:
			delim = dl
		case (strings.HasPrefix(dl, "x") || strings.HasPrefix(dl, "0x")) && len(dl) <= 4:
			h := strings.TrimPrefix(strings.TrimPrefix(dl, "0"), "x")
			c, ok := hexByte(h)
			if !ok {
				return failAs("leef", ReasonSyntax, "bad delimiter "+quoteShort(dl))
			}
			delim = string(rune(c))
		default:
			return failAs("leef", ReasonSyntax, "bad delimiter "+quoteShort(dl))
		}
	}
	checkPoint := vendor == "Check Point"
	e.Add(keyEventCode, eventID)
	hostname := e.Host
	e.Host, e.Process, e.PID = "", "", 0
	if !checkPoint { // cpFill names Check Point's observer
		observer(e, vendor, product, "")
		if hostname != "" {
			e.Add(keyObserverHostname, hostname)
		}
	}
	var cp cpRecord
	var devTime, devTimeFormat string
	for rest != "" {
		var pair string
		if j := strings.Index(rest, delim); j >= 0 {
			pair, rest = rest[:j], rest[j+len(delim):]
		} else {
			pair, rest = rest, ""
		}
		if strings.TrimSpace(pair) == "" {
			continue
		}
		key, v, ok := strings.Cut(pair, "=")
		if !ok || key == "" {
			return failAs("leef", ReasonSyntax, "want key=value at "+quoteShort(pair))
		}
		e.Add(d.leefKeys.key(key, ""), v)
		if checkPoint {
			cp.set(cpLEEFKey(key), v)
		}
		switch key {
		case "devTime":
			devTime = v
		case "devTimeFormat":
			devTimeFormat = v
		case "src":
			setSrc(e, v, e.SrcPort)
		case "dst":
			setDst(e, v, e.DstPort)
		case "srcPort":
			e.SrcPort, _ = parsePort(v)
		case "dstPort":
			e.DstPort, _ = parsePort(v)
		case "proto":
			e.Protocol = asciiLower(protoName(v))
		case "usrName":
			setUser(e, v)
		case "srcPostNAT":
			e.Add(keySrcNATIP, v)
		case "dstPostNAT":
			e.Add(keyDstNATIP, v)
		case "srcPostNATPort":
			e.Add(keySrcNATPort, v)
		case "dstPostNATPort":
			e.Add(keyDstNATPort, v)
		case "srcBytes":
			e.BytesOut, _ = parseUint(v)
		case "dstBytes":
			e.BytesIn, _ = parseUint(v)
		case "url":
			e.Add(keyURLOriginal, v)
			if h := urlHost(v); h != "" {
				e.Add(keyURLDomain, h)
			}
		case "policy":
			e.Add(keyRuleName, v)
		}
	}
	if err := d.leefTime(e, devTime, devTimeFormat); err != nil {
		return err
	}
	if checkPoint {
		e.Dataset = "checkpoint.firewall"
		e.Host = hostname
		if cp.product == "" {
			cp.product = product
		}
		cpFill(e, &cp)
	}
	return nil
}

// cpLEEFKey names a LEEF predefined attribute as Check Point's syslog form names the field.
func cpLEEFKey(k string) string {
	switch k {
	case "srcPort":
		return "s_port"
	case "dstPort":
		return "service"
	case "usrName":
		return "user"
	case "devTime":
		return "time"
	}
	return k
}

// hexByte reads one or two hex digits.
func hexByte(h string) (byte, bool) {
	if h == "" || len(h) > 2 {
		return 0, false
	}
	var c byte
	for i := 0; i < len(h); i++ {
		x := h[i]
		switch {
		case isDigit(x):
			c = c<<4 | (x - '0')
		case x >= 'a' && x <= 'f':
			c = c<<4 | (x - 'a' + 10)
		case x >= 'A' && x <= 'F':
			c = c<<4 | (x - 'A' + 10)
		default:
			return 0, false
		}
	}
	return c, true
}

// leefTime sets e.Time from devTime: epoch seconds or milliseconds, or the
// "MMM dd yyyy HH:mm:ss[.SSS]" form that devTimeFormat most often names; without devTime the
// syslog header's time stands.
func (d *textDecoder) leefTime(e *event.Event, v, format string) error {
	if v == "" {
		return nil
	}
	if n, ok := parseUint(v); ok && (len(v) == 10 || len(v) == 13) {
		if len(v) == 13 {
			e.Time = time.UnixMilli(int64(n)).UTC()
		} else {
			e.Time = time.Unix(int64(n), 0).UTC()
		}
		return nil
	}
	if ts, n, ok := parseBSDTime(v); ok && n == len(v) && ts.year != 0 {
		t, ok := ts.time(d.opts, e.Received)
		if ok {
			e.Time = t
			return nil
		}
	}
	return failAs("leef", ReasonTimestamp, "devTime "+quoteShort(v)+" in devTimeFormat "+quoteShort(format)+" cannot be read")
}
