package decode

import (
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// Authentication messages of sshd, PAM, su, sudo, login, klogind and ftpd: who tried to log
// in, from where, and whether it worked. They are what brute-force and password-spraying
// detection counts, so each is matched by hand against the wording OpenSSH and Linux-PAM
// really use (the loghub OpenSSH and Linux samples, OpenSSH 7-9), without regular expressions.

// Keys of the fields authentication messages give beyond the common ones.
var (
	authKeyDomain    = event.K("source.domain")       // a host name where an address would be
	authKeyMethod    = event.K("ssh.method")          // password, publickey, keyboard-interactive/pam
	authKeyEffective = event.K("user.effective.name") // the user su or sudo runs as
	authKeyTTY       = event.K("process.tty.name")
	authKeyCommand   = event.K("process.command_line") // what sudo ran
	authKeyPWD       = event.K("process.working_directory")
)

// Actions and categories (ECS event.action, event.category) that authentication messages get.
const (
	actSSHLogin       = "ssh_login"             // Accepted/Failed <method> for <user>
	actSSHInvalidUser = "ssh_invalid_user"      // Invalid user <user> from <addr>
	actSSHTooMany     = "ssh_too_many_failures" // Disconnecting: Too many authentication failures
	actSSHDisconnect  = "ssh_disconnect"        // Received disconnect, Connection closed
	actSSHConnection  = "ssh_connection"        // Connection from, Did not receive identification
	actSSHBreakIn     = "ssh_reverse_mapping_failed"
	actPAMAuth        = "pam_authentication" // pam_unix: authentication failure
	actSessionOpen    = "session_opened"
	actSessionClose   = "session_closed"
	actSu             = "su"
	actSudo           = "sudo"
	actLogin          = "login"
	actKLogin         = "kerberos_login"
	actFTPLogin       = "ftp_login"
	actFTPConnection  = "ftp_connection"

	catAuthentication = "authentication"
	catSession        = "session"
	catNetwork        = "network"
	catIntrusion      = "intrusion_detection"
	catProcess        = "process"
)

// authDecode extracts what an authentication message says into e, by the process that sent
// it. Messages it does not know stay as they are.
func authDecode(e *event.Event, msg string) {
	switch e.Process {
	case "sshd", "sshd-session":
		e.Dataset = "sshd"
		if !sshdMessage(e, msg) {
			pamMessage(e, msg)
		}
	case "su":
		e.Dataset = "linux.auth"
		if !pamMessage(e, msg) {
			suMessage(e, msg)
		}
	case "sudo":
		e.Dataset = "linux.auth"
		if !pamMessage(e, msg) {
			sudoMessage(e, msg)
		}
	case "login":
		e.Dataset = "linux.auth"
		if !pamMessage(e, msg) {
			loginMessage(e, msg)
		}
	case "klogind":
		e.Dataset = "linux.auth"
		kloginMessage(e, msg)
	case "ftpd", "vsftpd", "proftpd":
		e.Dataset = "ftpd"
		ftpdMessage(e, msg)
	default:
		// login's messages are distinctive, and old systems tag them oddly ("-- root[2421]:").
		if strings.HasPrefix(msg, "ROOT LOGIN ON ") || strings.HasPrefix(msg, "FAILED LOGIN ") {
			e.Dataset = "linux.auth"
			loginMessage(e, msg)
			return
		}
		if strings.HasPrefix(msg, "pam_") || e.Process == "gdm" || e.Process == "passwd" {
			if pamMessage(e, msg) {
				e.Dataset = "linux.auth"
			}
		}
	}
}

func authResult(e *event.Event, category, action string, outcome event.Outcome) {
	e.Category, e.Action, e.Outcome = category, action, outcome
}

// authSource sets the source address, or source.domain when a is a host name (sshd with
// UseDNS, PAM's rhost).
func authSource(e *event.Event, a string) {
	if a == "" || a == "UNKNOWN" {
		return
	}
	if ip, ok := parseAddr(a); ok {
		e.SrcIP = ip
		return
	}
	e.Add(authKeyDomain, a)
}

// sshAddrPort reads "ADDR[ port PORT]" at the start of s, as sshd writes it, and returns the
// rest. A colon after either ends it ("Received disconnect from A port P:11: ...").
func sshAddrPort(e *event.Event, s string) string {
	a, rest := cutWord(s)
	a = strings.TrimSuffix(a, ":")
	authSource(e, a)
	if strings.HasPrefix(rest, "port ") {
		var p string
		p, rest = cutWord(rest[len("port "):])
		if n := strings.IndexByte(p, ':'); n >= 0 {
			p = p[:n]
		}
		e.SrcPort, _ = parsePort(p)
	}
	return rest
}

// sshUserAddr reads "[invalid user U |authenticating user U |user U ]ADDR[ port PORT]".
func sshUserAddr(e *event.Event, s string) {
	for _, p := range [...]string{"invalid user ", "authenticating user ", "user "} {
		if strings.HasPrefix(s, p) {
			// The user name ends at the last space before the address.
			s = s[len(p):]
			i := strings.Index(s, " port ")
			if i < 0 {
				i = len(s)
			}
			j := strings.LastIndexByte(s[:i], ' ')
			if j < 0 {
				return
			}
			e.User = s[:j]
			s = s[j+1:]
			break
		}
	}
	sshAddrPort(e, s)
}

// sshForUserFrom reads "[invalid user ]USER from ADDR port PORT ..." and reports whether the
// user was marked invalid.
func sshForUserFrom(e *event.Event, s string) (invalid bool) {
	if strings.HasPrefix(s, "invalid user ") {
		s, invalid = s[len("invalid user "):], true
	}
	// A user name may hold spaces; the address is after the last " from ".
	i := strings.LastIndex(s, " from ")
	if i < 0 {
		return invalid
	}
	e.User = s[:i]
	sshAddrPort(e, s[i+len(" from "):])
	return invalid
}

// sshdMessage reads an sshd message and reports whether it knew it.
func sshdMessage(e *event.Event, msg string) bool {
	s := msg
	// "error: " and "fatal: " prefix some of the messages below.
	if strings.HasPrefix(s, "error: ") {
		s = s[len("error: "):]
	}
	switch {
	case strings.HasPrefix(s, "Accepted "), strings.HasPrefix(s, "Failed "):
		outcome := event.OutcomeSuccess
		if s[0] == 'F' {
			outcome = event.OutcomeFailure
		}
		method, rest := cutWord(s[strings.IndexByte(s, ' ')+1:])
		if !strings.HasPrefix(rest, "for ") {
			return false
		}
		authResult(e, catAuthentication, actSSHLogin, outcome)
		e.Add(authKeyMethod, method)
		sshForUserFrom(e, rest[len("for "):])
	case strings.HasPrefix(s, "Invalid user "):
		authResult(e, catAuthentication, actSSHInvalidUser, event.OutcomeFailure)
		rest := s[len("Invalid user "):]
		if i := strings.LastIndex(rest, " from "); i >= 0 {
			e.User = rest[:i]
			sshAddrPort(e, rest[i+len(" from "):])
		}
	case strings.HasPrefix(s, "input_userauth_request: invalid user "):
		authResult(e, catAuthentication, actSSHInvalidUser, event.OutcomeFailure)
		e.User = strings.TrimSuffix(s[len("input_userauth_request: invalid user "):], " [preauth]")
	case strings.HasPrefix(s, "User ") && strings.Contains(s, " not allowed because "):
		// "User root from 1.2.3.4 not allowed because not listed in AllowUsers"
		authResult(e, catAuthentication, actSSHLogin, event.OutcomeFailure)
		rest := s[len("User "):]
		if i := strings.Index(rest, " from "); i >= 0 {
			e.User = rest[:i]
			sshAddrPort(e, rest[i+len(" from "):])
		}
	case strings.HasPrefix(s, "maximum authentication attempts exceeded for "):
		authResult(e, catAuthentication, actSSHTooMany, event.OutcomeFailure)
		sshForUserFrom(e, s[len("maximum authentication attempts exceeded for "):])
	case strings.HasPrefix(s, "Disconnecting: Too many authentication failures"):
		authResult(e, catAuthentication, actSSHTooMany, event.OutcomeFailure)
		rest := strings.TrimSuffix(s[len("Disconnecting: Too many authentication failures"):], " [preauth]")
		if strings.HasPrefix(rest, " for ") {
			e.User = rest[len(" for "):]
		}
	case strings.HasPrefix(s, "Disconnecting ") && strings.Contains(s, ": Too many authentication failures"):
		// OpenSSH 7.5 on: "Disconnecting invalid user U A port P: Too many ..."
		authResult(e, catAuthentication, actSSHTooMany, event.OutcomeFailure)
		sshUserAddr(e, s[len("Disconnecting "):])
	case strings.HasPrefix(s, "Received disconnect from "):
		authResult(e, catNetwork, actSSHDisconnect, event.OutcomeUnknown)
		sshAddrPort(e, s[len("Received disconnect from "):])
	case strings.HasPrefix(s, "Connection closed by "):
		authResult(e, catNetwork, actSSHDisconnect, event.OutcomeUnknown)
		sshUserAddr(e, s[len("Connection closed by "):])
	case strings.HasPrefix(s, "Connection reset by "):
		authResult(e, catNetwork, actSSHDisconnect, event.OutcomeUnknown)
		sshUserAddr(e, s[len("Connection reset by "):])
	case strings.HasPrefix(s, "Disconnected from "):
		authResult(e, catNetwork, actSSHDisconnect, event.OutcomeUnknown)
		sshUserAddr(e, s[len("Disconnected from "):])
	case strings.HasPrefix(s, "Connection from "):
		// "Connection from A port P on B port Q"
		authResult(e, catNetwork, actSSHConnection, event.OutcomeUnknown)
		rest := sshAddrPort(e, s[len("Connection from "):])
		if strings.HasPrefix(rest, "on ") {
			a, rest := cutWord(rest[len("on "):])
			if ip, ok := parseAddr(a); ok {
				e.DstIP = ip
			}
			if strings.HasPrefix(rest, "port ") {
				p, _ := cutWord(rest[len("port "):])
				e.DstPort, _ = parsePort(p)
			}
		}
	case strings.HasPrefix(s, "Did not receive identification string from "):
		authResult(e, catNetwork, actSSHConnection, event.OutcomeFailure)
		sshAddrPort(e, s[len("Did not receive identification string from "):])
	case strings.HasPrefix(s, "Unable to negotiate with "):
		authResult(e, catNetwork, actSSHConnection, event.OutcomeFailure)
		sshAddrPort(e, s[len("Unable to negotiate with "):])
	case strings.HasPrefix(s, "Timeout before authentication for "):
		authResult(e, catNetwork, actSSHConnection, event.OutcomeFailure)
		sshAddrPort(e, s[len("Timeout before authentication for "):])
	case strings.HasPrefix(s, "reverse mapping checking getaddrinfo for "):
		// "reverse mapping checking getaddrinfo for NAME [A] failed - POSSIBLE BREAK-IN ATTEMPT!"
		authResult(e, catIntrusion, actSSHBreakIn, event.OutcomeUnknown)
		name, rest := cutWord(s[len("reverse mapping checking getaddrinfo for "):])
		if strings.HasPrefix(rest, "[") {
			if i := strings.IndexByte(rest, ']'); i > 0 {
				authSource(e, rest[1:i])
			}
		}
		e.Add(authKeyDomain, name)
	case strings.HasPrefix(s, "Address ") && strings.HasSuffix(s, "POSSIBLE BREAK-IN ATTEMPT!"):
		// "Address A maps to NAME, but this does not map back to the address - ..."
		authResult(e, catIntrusion, actSSHBreakIn, event.OutcomeUnknown)
		a, rest := cutWord(s[len("Address "):])
		authSource(e, a)
		if strings.HasPrefix(rest, "maps to ") {
			name, _ := cutWord(rest[len("maps to "):])
			e.Add(authKeyDomain, strings.TrimSuffix(name, ","))
		}
	case strings.HasPrefix(s, "PAM ") && strings.Contains(s, " more authentication failure"):
		// "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=A  user=root"
		authResult(e, catAuthentication, actPAMAuth, event.OutcomeFailure)
		pamRemote(e, s)
	case strings.HasPrefix(s, "message repeated "):
		// syslogd folded repeats: "message repeated 5 times: [ Failed password for root ...]"
		n, rest := cutWord(s[len("message repeated "):])
		i := strings.Index(rest, "[ ")
		if i < 0 {
			return false
		}
		if !sshdMessage(e, strings.TrimSuffix(rest[i+2:], "]")) {
			return false
		}
		e.Add(syslogKeyRepeated, n)
	default:
		return false
	}
	return true
}

// pamMessage reads a Linux-PAM message, with its "pam_unix(sshd:auth): " prefix or, from old
// systems, without it (the tag was "sshd(pam_unix)"), and reports whether it knew it.
func pamMessage(e *event.Event, msg string) bool {
	s := msg
	if strings.HasPrefix(s, "pam_") {
		i := strings.Index(s, "): ")
		if i < 0 {
			return false
		}
		s = s[i+len("): "):]
	}
	switch {
	case strings.HasPrefix(s, "authentication failure;"):
		// "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=A  user=root"
		authResult(e, catAuthentication, actPAMAuth, event.OutcomeFailure)
		pamRemote(e, s)
	case strings.HasPrefix(s, "check pass; user unknown"):
		authResult(e, catAuthentication, actPAMAuth, event.OutcomeFailure)
	case strings.HasPrefix(s, "auth could not identify password for ["):
		authResult(e, catAuthentication, actPAMAuth, event.OutcomeFailure)
		u := s[len("auth could not identify password for ["):]
		if i := strings.IndexByte(u, ']'); i >= 0 {
			e.User = u[:i]
		}
	case strings.HasPrefix(s, "session opened for user "):
		authResult(e, catSession, actSessionOpen, event.OutcomeSuccess)
		e.User = pamSessionUser(s[len("session opened for user "):])
	case strings.HasPrefix(s, "session closed for user "):
		authResult(e, catSession, actSessionClose, event.OutcomeSuccess)
		e.User = pamSessionUser(s[len("session closed for user "):])
	default:
		return false
	}
	return true
}

// pamSessionUser returns the user of "USER[(uid=N)] by ...".
func pamSessionUser(s string) string {
	u, _ := cutWord(s)
	if i := strings.IndexByte(u, '('); i > 0 {
		u = u[:i]
	}
	return u
}

// pamRemote reads rhost= and user= of a PAM failure into e.
func pamRemote(e *event.Event, s string) {
	authSource(e, pamValue(s, "rhost="))
	if u := pamValue(s, "user="); u != "" {
		e.User = u
	}
}

// pamValue returns the value of the word key=value in s; key must start a word, so "user="
// does not find "ruser=".
func pamValue(s, key string) string {
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], key)
		if i < 0 {
			return ""
		}
		i += off
		if i == 0 || s[i-1] == ' ' {
			v, _ := cutWord(s[i+len(key):])
			return v
		}
		off = i + len(key)
	}
	return ""
}

// suMessage reads su's own messages (shadow-utils and util-linux).
func suMessage(e *event.Event, s string) {
	switch {
	case strings.HasPrefix(s, "Successful su for "):
		// "Successful su for root by alice"
		authResult(e, catAuthentication, actSu, event.OutcomeSuccess)
		target, rest := cutWord(s[len("Successful su for "):])
		e.Add(authKeyEffective, target)
		if strings.HasPrefix(rest, "by ") {
			e.User = rest[len("by "):]
		}
	case strings.HasPrefix(s, "FAILED SU (to "), strings.HasPrefix(s, "FAILED su for "),
		strings.HasPrefix(s, "(to "):
		// "FAILED SU (to root) alice on pts/0", "(to root) alice on pts/0"
		outcome := event.OutcomeSuccess
		if s[0] == 'F' {
			outcome = event.OutcomeFailure
		}
		authResult(e, catAuthentication, actSu, outcome)
		if i := strings.Index(s, "(to "); i >= 0 {
			rest := s[i+len("(to "):]
			if j := strings.IndexByte(rest, ')'); j >= 0 {
				e.Add(authKeyEffective, rest[:j])
				u, rest := cutWord(trimSpaceLeft(rest[j+1:]))
				e.User = u
				if strings.HasPrefix(rest, "on ") {
					e.Add(authKeyTTY, rest[len("on "):])
				}
			}
		} else if rest, ok := strings.CutPrefix(s, "FAILED su for "); ok {
			target, rest := cutWord(rest)
			e.Add(authKeyEffective, target)
			if strings.HasPrefix(rest, "by ") {
				e.User = rest[len("by "):]
			}
		}
	case len(s) > 2 && (s[0] == '+' || s[0] == '-') && s[1] == ' ':
		// "+ pts/0 alice:root" (success) and "- pts/0 alice:root" (failure)
		outcome := event.OutcomeSuccess
		if s[0] == '-' {
			outcome = event.OutcomeFailure
		}
		tty, who := cutWord(s[2:])
		from, to, ok := strings.Cut(who, ":")
		if !ok {
			return
		}
		authResult(e, catAuthentication, actSu, outcome)
		e.User = from
		e.Add(authKeyEffective, to)
		e.Add(authKeyTTY, tty)
	}
}

// sudoMessage reads "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
// with "3 incorrect password attempts ; " or "user NOT in sudoers ; " before TTY= on failure.
func sudoMessage(e *event.Event, s string) {
	user, rest, ok := strings.Cut(s, " : ")
	if !ok || strings.IndexByte(user, ' ') >= 0 {
		return
	}
	e.User = user
	authResult(e, catProcess, actSudo, event.OutcomeSuccess)
	for rest != "" {
		var item string
		if strings.HasPrefix(rest, "COMMAND=") {
			item, rest = rest, "" // the command may hold " ; "
		} else if i := strings.Index(rest, " ; "); i >= 0 {
			item, rest = rest[:i], rest[i+len(" ; "):]
		} else {
			item, rest = rest, ""
		}
		switch {
		case strings.HasPrefix(item, "TTY="):
			e.Add(authKeyTTY, item[len("TTY="):])
		case strings.HasPrefix(item, "PWD="):
			e.Add(authKeyPWD, item[len("PWD="):])
		case strings.HasPrefix(item, "USER="):
			e.Add(authKeyEffective, item[len("USER="):])
		case strings.HasPrefix(item, "COMMAND="):
			e.Add(authKeyCommand, item[len("COMMAND="):])
		case strings.Contains(item, "incorrect password attempt"),
			strings.Contains(item, "NOT in sudoers"), strings.Contains(item, "command not allowed"):
			authResult(e, catAuthentication, actSudo, event.OutcomeFailure)
		}
	}
}

// loginMessage reads login(1)'s messages.
func loginMessage(e *event.Event, s string) {
	switch {
	case strings.HasPrefix(s, "ROOT LOGIN ON "):
		authResult(e, catAuthentication, actLogin, event.OutcomeSuccess)
		e.User = "root"
		tty, _ := cutWord(s[len("ROOT LOGIN ON "):])
		e.Add(authKeyTTY, tty)
	case strings.HasPrefix(s, "LOGIN ON "):
		// "LOGIN ON tty1 BY alice"
		authResult(e, catAuthentication, actLogin, event.OutcomeSuccess)
		tty, rest := cutWord(s[len("LOGIN ON "):])
		e.Add(authKeyTTY, tty)
		if strings.HasPrefix(rest, "BY ") {
			e.User, _ = cutWord(rest[len("BY "):])
		}
	case strings.HasPrefix(s, "FAILED LOGIN "):
		// "FAILED LOGIN 1 FROM 192.0.2.7 FOR alice, Authentication failure"
		authResult(e, catAuthentication, actLogin, event.OutcomeFailure)
		if i := strings.Index(s, " FROM "); i >= 0 {
			a, _ := cutWord(s[i+len(" FROM "):])
			authSource(e, a)
		}
		if i := strings.Index(s, " FOR "); i >= 0 {
			u := s[i+len(" FOR "):]
			if j := strings.IndexByte(u, ','); j >= 0 {
				u = u[:j]
			}
			e.User = strings.Trim(u, "'")
		}
	}
}

// kloginMessage reads klogind's "Authentication failed from A (NAME): reason".
func kloginMessage(e *event.Event, s string) {
	if rest, ok := strings.CutPrefix(s, "Authentication failed from "); ok {
		authResult(e, catAuthentication, actKLogin, event.OutcomeFailure)
		a, _ := cutWord(rest)
		authSource(e, strings.TrimSuffix(a, ":"))
	}
}

// ftpdMessage reads the connection and login messages of BSD and wu-ftpd.
func ftpdMessage(e *event.Event, s string) {
	switch {
	case strings.HasPrefix(s, "connection from "):
		// "connection from 24.54.76.216 (host.example) at Fri Jun 17 07:07:00 2005"
		authResult(e, catNetwork, actFTPConnection, event.OutcomeUnknown)
		a, _ := cutWord(s[len("connection from "):])
		authSource(e, a)
	case strings.HasPrefix(s, "ANONYMOUS FTP LOGIN FROM "):
		// "ANONYMOUS FTP LOGIN FROM 84.102.20.2,  (anonymous)"
		authResult(e, catAuthentication, actFTPLogin, event.OutcomeSuccess)
		a, _ := cutWord(s[len("ANONYMOUS FTP LOGIN FROM "):])
		authSource(e, strings.TrimSuffix(a, ","))
		e.User = "anonymous"
	case strings.HasPrefix(s, "FTP LOGIN FROM "):
		// wu-ftpd: "FTP LOGIN FROM 192.0.2.7 [192.0.2.7], alice"
		authResult(e, catAuthentication, actFTPLogin, event.OutcomeSuccess)
		a, rest := cutWord(s[len("FTP LOGIN FROM "):])
		authSource(e, strings.TrimSuffix(a, ","))
		if i := strings.LastIndex(rest, ", "); i >= 0 {
			e.User = rest[i+2:]
		}
	}
}
