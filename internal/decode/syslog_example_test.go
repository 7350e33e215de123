package decode_test

import (
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

func ExampleNew_syslog() {
	// RFC 3164 timestamps carry neither year nor zone: the options give them.
	dec, err := decode.New("syslog", decode.Options{Location: time.UTC, Year: 2016})
	if err != nil {
		panic(err)
	}
	var e event.Event
	e.Raw = []byte("Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2")
	if err := dec.Decode(&e); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Time.Format(time.RFC3339), e.Host, e.Process, e.PID)
	fmt.Println(e.Dataset, e.Category, e.Action, e.Outcome)
	fmt.Println(e.User, e.SrcIP, e.SrcPort)

	// What no decoder understands is an error with a reason, for the dead letters.
	e.Reset()
	e.Raw = []byte("\x00\x01 not text")
	err = dec.Decode(&e)
	fmt.Println(decode.ReasonOf(err), err)
	// Output:
	// 2016-12-10T06:55:48Z LabSZ sshd 24200
	// sshd authentication ssh_login failure
	// webmaster 173.234.31.186 38926
	// binary decode syslog: binary: control bytes in a text record
}
