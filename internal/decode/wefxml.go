package decode

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// Windows events rendered as XML ("wef-xml"): what Windows Event Forwarding subscriptions,
// wevtutil qe /f:xml, Get-WinEvent's ToXml() and Event Viewer's "Save as XML" write —
// <Event><System>...</System><EventData><Data Name=...>...</Data></EventData></Event>, with
// a <RenderingInfo> when the events were forwarded as rendered text, one after the other or
// inside <Events>. The XML is read into the same leaves as the EVTX reader's binary XML, so
// an event comes out as it does from the .evtx file it was read from.

// winXML turns XML into jsonFlat leaves: an element's path is its ancestors' local names
// joined with dots below the root's parent ("Event.System.Provider"), an attribute is a leaf
// at the element's path and its name, and the text of an element without children a leaf at
// the element's path; leaves of one element share its object number.
type winXML struct {
	text []byte
}

// flatten fills f with the leaves of the first element of doc and what it holds.
func (x *winXML) flatten(f *jsonFlat, doc []byte) error {
	f.reset()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false // Windows writes what it writes; a stray entity must not lose the event
	type open struct {
		pathLen  int
		obj      int32
		children bool
	}
	var stack []open
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			if len(stack) > 0 {
				return errors.New("XML ends inside an element")
			}
			return errors.New("no element")
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > 0 {
				stack[len(stack)-1].children = true
			}
			if len(stack) >= jsonMaxDepth {
				return errors.New("nested too deeply")
			}
			o := open{pathLen: len(f.path), obj: f.objs}
			f.objs++
			if len(f.path) > 0 {
				f.path = append(f.path, '.')
			}
			f.path = append(f.path, t.Name.Local...)
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				n := len(f.path)
				f.path = append(append(f.path, '.'), a.Name.Local...)
				f.leaf(o.obj, jsonString, a.Value)
				f.path = f.path[:n]
			}
			stack = append(stack, o)
			x.text = x.text[:0]
		case xml.CharData:
			x.text = append(x.text, t...)
		case xml.EndElement:
			if len(stack) == 0 {
				return fmt.Errorf("end of element %s never opened", t.Name.Local)
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !o.children && len(x.text) > 0 {
				f.leaf(o.obj, jsonString, string(x.text))
			}
			x.text = x.text[:0]
			f.path = f.path[:o.pathLen]
			if len(stack) == 0 {
				return nil
			}
		}
	}
}

// eventData appends to dst the items of an <EventData> or <UserData> (alone or in the
// <DataItem> that holds it) given as text, as Log Analytics keeps them: <Data Name="X">v</Data>
// as winlog.event_data.X, unnamed <Data> as param1, param2, ..., and the innermost elements
// of UserData as winlog.user_data.<element>.
func (x *winXML) eventData(dst []event.Field, doc string, f *jsonFlat) []event.Field {
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = false
	name, params, user := "", 0, 0
	leaf := false // the element open last has no children yet
	for {
		tok, err := d.RawToken()
		if err != nil {
			return dst
		}
		switch t := tok.(type) {
		case xml.StartElement:
			x.text, leaf = x.text[:0], true
			switch {
			case t.Name.Local == "UserData" || user > 0:
				user++
				name = t.Name.Local
			case t.Name.Local == "Data":
				name = ""
				for _, a := range t.Attr {
					if a.Name.Local == "Name" {
						name = a.Value
					}
				}
				if name == "" {
					params++
					name = "param" + strconv.Itoa(params)
				}
			default:
				leaf = false
			}
		case xml.CharData:
			x.text = append(x.text, t...)
		case xml.EndElement:
			if user > 0 {
				user--
				if leaf && user > 1 {
					dst = append(dst, event.Field{Key: f.intern("winlog.user_data.", []byte(name)), Value: string(x.text)})
				}
			} else if leaf && t.Name.Local == "Data" {
				dst = append(dst, event.Field{Key: f.intern("winlog.event_data.", []byte(name)), Value: string(x.text)})
			}
			leaf = false
		}
	}
}

// wefDecoder decodes one Windows event rendered as XML, on one line or many (as one record
// of a stream sent over HTTP or syslog); Open reads files of many.
type wefDecoder struct {
	opts Options
	f    jsonFlat
	x    winXML
}

func newWEFDecoder(opts Options) Decoder { return &wefDecoder{opts: opts} }

func (d *wefDecoder) Decode(e *event.Event) error {
	doc := e.Raw
	for i := 0; ; { // skip an XML declaration, <Events>, a syslog header
		j := bytes.Index(doc[i:], []byte("<Event"))
		if j < 0 {
			break
		}
		if wefStartTag(doc[i+j:]) {
			doc = doc[i+j:]
			break
		}
		i += j + 1
	}
	if err := d.x.flatten(&d.f, doc); err != nil {
		return &Error{Format: "wef-xml", Reason: ReasonSyntax, Detail: "invalid XML", Err: err}
	}
	if len(d.f.leaves) == 0 || !bytes.HasPrefix(d.f.keyOf(&d.f.leaves[0]), []byte("Event.")) {
		return &Error{Format: "wef-xml", Reason: ReasonField, Detail: "no <Event> element: not a Windows event"}
	}
	return winFromFlat(e, &d.f, "wef-xml")
}

func sniffWEF(head []byte) bool {
	h := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if bytes.HasPrefix(h, []byte("<?xml")) {
		if i := bytes.Index(h, []byte("?>")); i > 0 {
			h = bytes.TrimLeft(h[i+2:], " \t\r\n")
		}
	}
	h = bytes.TrimPrefix(h, []byte("<Events>"))
	h = bytes.TrimLeft(h, " \t\r\n")
	return wefStartTag(h) && bytes.Contains(h, []byte("<System>"))
}

// wefStartTag reports whether b starts with an <Event> start tag (not <Events>).
func wefStartTag(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("<Event")) || len(b) == len("<Event") {
		return false
	}
	switch b[len("<Event")] {
	case ' ', '>', '\t', '\r', '\n':
		return true
	}
	return false
}

// openWEF reads the <Event> elements of a stream one after the other, whatever is around
// them (<Events>, an XML declaration, white space).
func openWEF(r io.Reader, opts Options) (Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &wefStream{r: br, dec: &wefDecoder{opts: opts}, max: DefaultMaxRecord * 4, line: 1}, nil
}

type wefStream struct {
	r    *bufio.Reader
	dec  *wefDecoder
	max  int
	line int // line of the next byte
}

func (s *wefStream) Next(e *event.Event) error {
	received := e.Received
	e.Reset()
	raw, start, tooLong, err := s.record()
	if err != nil {
		return err
	}
	e.Raw, e.Received = raw, received
	return decodeRecord(s.dec, e, "wef-xml", start, s.max, tooLong)
}

// record reads from the next <Event> start tag to its </Event>, in a new slice. It reads the
// stream a tag at a time: each piece ends with '>', and the tag is what follows its last '<'.
func (s *wefStream) record() (raw []byte, start int, tooLong bool, err error) {
	in := false
	for {
		piece, err := s.r.ReadSlice('>')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil // a long text: keep reading the same piece
		}
		if len(piece) == 0 && err != nil {
			if in {
				return raw, start, tooLong, nil // cut short: Decode says so
			}
			return nil, 0, false, err
		}
		lines := bytes.Count(piece, []byte{'\n'})
		tag := piece
		if i := bytes.LastIndexByte(piece, '<'); i >= 0 {
			tag = piece[i:]
		}
		if !in {
			if i := bytes.LastIndexByte(piece, '<'); i >= 0 && wefStartTag(tag) {
				in = true
				start = s.line + bytes.Count(piece[:i], []byte{'\n'})
				piece = tag
			}
		}
		s.line += lines
		if in {
			if len(raw)+len(piece) > s.max {
				if !tooLong {
					raw = append(raw, piece[:s.max-len(raw)]...)
				}
				tooLong = true
			} else {
				raw = append(raw, piece...)
			}
			if string(bytes.TrimRight(tag, " \t\r\n>")) == "</Event" {
				return raw, start, tooLong, nil
			}
		}
		if err != nil {
			if in {
				return raw, start, tooLong, nil
			}
			return nil, 0, false, err
		}
	}
}
