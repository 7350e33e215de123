package decode

import (
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// Security events name access rights by their message-table code ("%%4417"), which Event
// Viewer and rendered forwarding replace with the text ("WriteData (or AddFile)"). SigmaHQ's
// rules use both: Windows Network Access Suspicious desktop.ini Action looks for
// AccessList|contains "WriteData", Windows Defender Exclusion Registry Key - Write Access
// Requested for "%%4417". So each code of a list of access rights is kept and followed by its
// text, and a rule written either way matches.
//
// winMessages is the one table of those codes. Source: the message table of msobjs.dll
// (Windows' "Security Audit Object Access" strings), as Microsoft's auditing reference lists
// them for events 4656, 4663 and 5145 ("Table of file access codes" in
// learn.microsoft.com/windows/security/threat-protection/auditing/event-4663, and
// "Registry access rights" in event-4657) and for 4719's audit policy changes (event-4719).
// Logon types and status codes need no table: Windows writes them as numbers ("10",
// "0xc000006d"), and SigmaHQ's rules compare them as numbers.
var winMessages = map[string]string{
	// Standard rights, every object type.
	"%%1537": "DELETE",
	"%%1538": "READ_CONTROL",
	"%%1539": "WRITE_DAC",
	"%%1540": "WRITE_OWNER",
	"%%1541": "SYNCHRONIZE",
	"%%1542": "ACCESS_SYS_SEC",
	// Files, directories and pipes.
	"%%4416": "ReadData (or ListDirectory)",
	"%%4417": "WriteData (or AddFile)",
	"%%4418": "AppendData (or AddSubdirectory or CreatePipeInstance)",
	"%%4419": "ReadEA",
	"%%4420": "WriteEA",
	"%%4421": "Execute/Traverse",
	"%%4422": "DeleteChild",
	"%%4423": "ReadAttributes",
	"%%4424": "WriteAttributes",
	// Registry keys.
	"%%4432": "Query key value",
	"%%4433": "Set key value",
	"%%4434": "Create sub-key",
	"%%4435": "Enumerate sub-keys",
	"%%4436": "Notify about changes to keys",
	"%%4437": "Create Link",
	// Audit policy changes (4719 AuditPolicyChanges).
	"%%8448": "Success removed",
	"%%8449": "Success added",
	"%%8450": "Failure removed",
	"%%8451": "Failure added",
}

// winKeyAccessList and winKeyAuditPolicyChanges are the items that hold lists of codes.
var (
	winKeyAccessList         = event.K("winlog.event_data.AccessList")
	winKeyAuditPolicyChanges = event.K("winlog.event_data.AuditPolicyChanges")
)

// winTranslate follows each code of e's lists of access rights with its text:
// "%%4417\n\t\t\t\t%%4418" becomes "%%4417 WriteData (or AddFile)\n%%4418 AppendData (...)".
func winTranslate(e *event.Event) {
	for i := range e.Fields {
		f := &e.Fields[i]
		if (f.Key == winKeyAccessList || f.Key == winKeyAuditPolicyChanges) && strings.Contains(f.Value, "%%") {
			f.Value = winRender(f.Value)
		}
	}
}

// winRender returns the codes of v, one a line, each followed by its text when the table
// has it.
func winRender(v string) string {
	var b strings.Builder
	for tok := range strings.FieldsSeq(v) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		code := strings.TrimRight(tok, ",") // 4719 separates its codes with commas
		b.WriteString(code)
		if text, ok := winMessages[code]; ok {
			b.WriteByte(' ')
			b.WriteString(text)
		}
		b.WriteString(tok[len(code):])
	}
	return b.String()
}
