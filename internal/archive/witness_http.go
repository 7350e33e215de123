package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// HTTPWitness is a witness reached by the C2SP tlog-witness protocol
// (https://c2sp.org/tlog-witness): a regional SOC's, an authority's, or any witness
// configured to trust the archive's public key for its origins. It checks that the answer
// carries a cosignature by the witness's key (C2SP tlog-cosignature, Ed25519 cosignature/v1),
// so that an answer from something else is not taken for the witness's.
type HTTPWitness struct {
	url    string // the submission prefix
	name   string
	id     []byte
	key    ed25519.PublicKey
	client *http.Client
}

// cosignatureType is the signature type of an Ed25519 cosignature/v1 key.
const cosignatureType = 0x04

// NewHTTPWitness returns the witness at the submission prefix url whose cosigning key is vkey,
// a signed-note verifier key of type 0x04: "<name>+<key id, hex>+<base64 of 0x04 || Ed25519
// public key>". client sends the requests; nil means http.DefaultClient.
func NewHTTPWitness(url, vkey string, client *http.Client) (*HTTPWitness, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	idHex, keyB64, ok2 := strings.Cut(rest, "+")
	id, err1 := hex.DecodeString(idHex)
	key, err2 := base64.StdEncoding.DecodeString(keyB64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || len(id) != 4 || len(key) != 1+ed25519.PublicKeySize || key[0] != cosignatureType {
		return nil, fmt.Errorf("witness key %q: not a cosignature/v1 verifier key (<name>+<key id>+<base64 of 0x04 and an Ed25519 key>)", vkey)
	}
	if want := cosignerID(name, key[1:]); !bytes.Equal(id, want) {
		return nil, fmt.Errorf("witness key %q: key id %x, but the name and key make %x", vkey, id, want)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &HTTPWitness{url: strings.TrimSuffix(url, "/"), name: name, id: id, key: key[1:], client: client}, nil
}

// cosignerID is the key id of an Ed25519 cosigner: SHA-256(name || "\n" || 0x04 || key)[:4].
func cosignerID(name string, key []byte) []byte {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{cosignatureType})
	h.Write(key)
	return h.Sum(nil)[:4]
}

// cosignedMessage is what a cosignature/v1 signs: a header, the time, and the note's text.
func cosignedMessage(timestamp uint64, text []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", timestamp)), text...)
}

// AddCheckpoint implements Witness with the protocol's add-checkpoint call.
func (w *HTTPWitness) AddCheckpoint(ctx context.Context, old uint64, prf [][]byte, checkpoint []byte) error {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, h := range prf {
		body.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	body.WriteString("\n")
	body.Write(checkpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+"/add-checkpoint", &body)
	if err != nil {
		return fmt.Errorf("witness %s: %w", w.name, err)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("witness %s: %w", w.name, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("witness %s: read the answer: %w", w.name, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return w.checkCosignature(checkpoint, answer)
	case http.StatusConflict:
		if size, err := strconv.ParseUint(strings.TrimSpace(string(answer)), 10, 64); err == nil {
			return &WitnessConflict{Size: size}
		}
		return fmt.Errorf("witness %s: it keeps a checkpoint of the same size with another root: %s", w.name, bytes.TrimSpace(answer))
	case http.StatusNotFound:
		return fmt.Errorf("witness %s: it does not witness this origin (404): configure it with the archive's public key", w.name)
	case http.StatusForbidden:
		return fmt.Errorf("witness %s: it does not trust the key that signed the checkpoint (403)", w.name)
	case http.StatusUnprocessableEntity:
		return fmt.Errorf("witness %s: the checkpoint does not extend the one it keeps (422)", w.name)
	}
	return fmt.Errorf("witness %s: %s: %s", w.name, resp.Status, bytes.TrimSpace(answer))
}

// checkCosignature finds, among the signature lines of answer, a valid cosignature of
// checkpoint by the witness's key.
func (w *HTTPWitness) checkCosignature(checkpoint, answer []byte) error {
	i := bytes.Index(checkpoint, []byte("\n\n"))
	if i < 0 {
		return fmt.Errorf("witness %s: the checkpoint sent is not a signed note", w.name)
	}
	text := checkpoint[:i+1]
	sc := bufio.NewScanner(bytes.NewReader(answer))
	for sc.Scan() {
		name, b64, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "— "), " ")
		if !ok || name != w.name {
			continue // another key's: the protocol says to ignore it
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) != 4+8+ed25519.SignatureSize || !bytes.Equal(sig[:4], w.id) {
			continue
		}
		if ed25519.Verify(w.key, cosignedMessage(binary.BigEndian.Uint64(sig[4:12]), text), sig[12:]) {
			return nil
		}
	}
	return fmt.Errorf("witness %s: the answer holds no valid cosignature by its key", w.name)
}
