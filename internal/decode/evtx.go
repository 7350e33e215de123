package decode

import (
	"bytes"
	"errors"
	"io"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/evtx"
)

// The "evtx" format reads Windows .evtx files with package evtx, which renders each record's
// binary XML into a jsonFlat: the same flattened XML the evtx-json decoder reads, so that a
// .evtx record and its JSON rendering make the same event (winFromFlat).

func sniffEVTX(head []byte) bool { return evtx.Sniff(head) }

func openEVTX(r io.Reader, opts Options) (Reader, error) {
	x := &evtxReader{}
	x.r = *evtx.NewReader(r) // in one allocation with the flattener, as before the parser moved
	return x, nil
}

type evtxReader struct {
	r    evtx.Reader
	flat jsonFlat
}

func (x *evtxReader) Next(e *event.Event) error {
	e.Reset()
	x.flat.reset()
	raw, err := x.r.Next(&x.flat)
	e.Raw = bytes.Clone(raw)
	if se, ok := errors.AsType[*evtx.SyntaxError](err); ok {
		return &Error{Format: "evtx", Reason: ReasonSyntax, Detail: se.Detail}
	}
	if err != nil {
		return err
	}
	return winFromFlat(e, &x.flat, "evtx")
}

// Leaf adds a leaf of an EVTX record's XML: a jsonFlat is the evtx.Sink the EVTX reader
// renders into.
func (f *jsonFlat) Leaf(path []byte, elem int32, value string) {
	f.leafAt(path, elem, jsonString, value)
}
