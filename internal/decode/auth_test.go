package decode

import (
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

func TestAuthMessages(t *testing.T) {
	type want struct {
		dataset, category, action string
		outcome                   event.Outcome
		user, src                 string
		port                      uint16
	}
	fail, ok, unk := event.OutcomeFailure, event.OutcomeSuccess, event.OutcomeUnknown
	tests := []struct {
		proc, msg string
		want      want
	}{
		{"sshd", "Accepted publickey for alice from 192.0.2.1 port 5022 ssh2: ED25519 SHA256:x", want{"sshd", "authentication", "ssh_login", ok, "alice", "192.0.2.1", 5022}},
		{"sshd", "Failed password for invalid user  from 192.0.2.1 port 22 ssh2", want{"sshd", "authentication", "ssh_login", fail, "", "192.0.2.1", 22}},
		{"sshd", "Failed password for user with space from 2001:db8::1 port 22 ssh2", want{"sshd", "authentication", "ssh_login", fail, "user with space", "2001:db8::1", 22}},
		{"sshd", "Failed none for invalid user 0 from 5.188.10.180 port 49811 ssh2", want{"sshd", "authentication", "ssh_login", fail, "0", "5.188.10.180", 49811}},
		{"sshd", "Invalid user admin from 192.0.2.1 port 4000", want{"sshd", "authentication", "ssh_invalid_user", fail, "admin", "192.0.2.1", 4000}},
		{"sshd", "Connection closed by invalid user  192.0.2.1 port 4000 [preauth]", want{"sshd", "network", "ssh_disconnect", unk, "", "192.0.2.1", 4000}},
		{"sshd", "Connection closed by 192.0.2.1 [preauth]", want{"sshd", "network", "ssh_disconnect", unk, "", "192.0.2.1", 0}},
		{"sshd", "Received disconnect from ::1 port 22:11: bye", want{"sshd", "network", "ssh_disconnect", unk, "", "::1", 22}},
		{"sshd", "Did not receive identification string from 192.0.2.9 port 61000", want{"sshd", "network", "ssh_connection", fail, "", "192.0.2.9", 61000}},
		{"sshd", "message repeated 2 times: [ Failed password for root from 192.0.2.1 port 1 ssh2]", want{"sshd", "authentication", "ssh_login", fail, "root", "192.0.2.1", 1}},
		{"sshd", "message repeated 2 times: [ something else]", want{"sshd", "", "", unk, "", "", 0}},
		{"sshd", "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser=bob rhost=192.0.2.4  user=root", want{"sshd", "authentication", "pam_authentication", fail, "root", "192.0.2.4", 0}},
		{"sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=bob rhost=", want{"sshd", "authentication", "pam_authentication", fail, "", "", 0}},
		{"sshd", "Accepted", want{"sshd", "", "", unk, "", "", 0}},
		{"sshd", "Failed ", want{"sshd", "", "", unk, "", "", 0}},
		{"su", "session opened for user news by (uid=0)", want{"linux.auth", "session", "session_opened", ok, "news", "", 0}},
		{"su", "+ pts/0 alice:root", want{"linux.auth", "authentication", "su", ok, "alice", "", 0}},
		{"su", "- pts/0 alice:root", want{"linux.auth", "authentication", "su", fail, "alice", "", 0}},
		{"su", "Successful su for root by alice", want{"linux.auth", "authentication", "su", ok, "alice", "", 0}},
		{"sudo", "mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh", want{"linux.auth", "authentication", "sudo", fail, "mallory", "", 0}},
		{"sudo", "pam_unix(sudo:session): session closed for user root", want{"linux.auth", "session", "session_closed", ok, "root", "", 0}},
		{"login", "LOGIN ON tty1 BY alice", want{"linux.auth", "authentication", "login", ok, "alice", "", 0}},
		{"klogind", "Authentication failed from 163.27.187.39 (163.27.187.39): Software caused connection abort", want{"linux.auth", "authentication", "kerberos_login", fail, "", "163.27.187.39", 0}},
		{"ftpd", "ANONYMOUS FTP LOGIN FROM 84.102.20.2,  (anonymous)", want{"ftpd", "authentication", "ftp_login", ok, "anonymous", "84.102.20.2", 0}},
		{"gdm", "pam_unix(gdm:auth): auth could not identify password for [alice]", want{"linux.auth", "authentication", "pam_authentication", fail, "alice", "", 0}},
		{"cron", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", want{"linux.auth", "session", "session_opened", ok, "root", "", 0}},
		{"kernel", "session opened for user root", want{"", "", "", unk, "", "", 0}},
	}
	for _, tt := range tests {
		e := &event.Event{Process: tt.proc}
		authDecode(e, tt.msg)
		src := ""
		if e.SrcIP.IsValid() {
			src = e.SrcIP.String()
		}
		got := want{e.Dataset, e.Category, e.Action, e.Outcome, e.User, src, e.SrcPort}
		if got != tt.want {
			t.Errorf("authDecode(%s, %q) = %+v, want %+v", tt.proc, tt.msg, got, tt.want)
		}
	}
}

// A host name where sshd or PAM would give an address goes to source.domain.
func TestAuthHostName(t *testing.T) {
	raw := "Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root"
	e, err := textDecode(t, "syslog", Options{Year: 2005}, time.Time{}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Get(authKeyDomain); d != "220-135-151-1.hinet-ip.hinet.net" || e.SrcIP.IsValid() || e.User != "root" || e.Process != "sshd" {
		t.Errorf("Decode(%q) = source.domain %q ip %v user %q process %q", raw, d, e.SrcIP, e.User, e.Process)
	}
	if tag, _ := e.Get(syslogKeyAppName); tag != "sshd(pam_unix)" {
		t.Errorf("Decode(%q): appname %q, want sshd(pam_unix)", raw, tag)
	}
}
