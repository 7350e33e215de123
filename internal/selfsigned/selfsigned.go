// Package selfsigned makes and keeps the self-signed TLS certificates omamori uses when a
// listener leaves localhost and the operator has not given a certificate of their own. It
// sits beside the data path, at its edges: the HTTP API and the syslog TLS listener ask it for
// a certificate before they listen, so no byte ever crosses the network in plain text.
//
// The certificate and key live in files in the data directory, so a restart keeps the same
// certificate and clients that pinned its fingerprint keep working. A certificate is made anew
// only when it is missing, unreadable, near its end, or does not cover the hosts asked for.
package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// validity is how long a new certificate lasts. A year keeps a stolen key's use bounded
	// while a restart now and then renews it long before it ends.
	validity = 365 * 24 * time.Hour
	// renewBefore is how close to its end a certificate is made anew on Ensure.
	renewBefore = 30 * 24 * time.Hour
)

// Ensure returns the paths of a certificate and key named name (name.crt and name.key in dir)
// valid for every host in hosts (DNS names or IP addresses), making them if they are missing,
// unreadable, end within 30 days or do not cover a host. dir is created if needed; the key file
// is readable by its owner only.
//
// Ensure is safe to call from several listeners at once as long as each uses its own name;
// two callers making the same name at the same moment could pair one's key with the other's
// certificate.
func Ensure(dir, name string, hosts []string) (certFile, keyFile string, err error) {
	return ensure(dir, name, hosts, time.Now())
}

func ensure(dir, name string, hosts []string, now time.Time) (certFile, keyFile string, err error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return "", "", fmt.Errorf("selfsigned: invalid name %q", name)
	}
	if len(hosts) == 0 {
		return "", "", errors.New("selfsigned: no hosts to certify")
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if usable(certFile, keyFile, hosts, now) {
		return certFile, keyFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create certificate directory: %w", err)
	}
	certPEM, keyPEM, err := generate(hosts, now)
	if err != nil {
		return "", "", err
	}
	// Key first: a reader that finds the new certificate then also finds its key.
	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFile(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// usable reports whether the pair on disk loads, matches, lasts beyond renewBefore and covers
// every host.
func usable(certFile, keyFile string, hosts []string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return false
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return false
		}
	}
	if now.Before(cert.NotBefore) || now.Add(renewBefore).After(cert.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func generate(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"omamori self-signed"}, CommonName: hosts[0]},
		// An hour back tolerates clocks that differ a little between server and client.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFile writes data to a temporary file beside path and renames it into place, so a
// crash never leaves half a key.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Fingerprint returns the SHA-256 fingerprint of the first certificate in certFile, as
// colon-separated upper-case hex — the form browsers and openssl show, so an operator can
// compare it with what a client sees on first connection.
func Fingerprint(certFile string) (string, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return "", fmt.Errorf("read certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("read certificate %s: no PEM certificate", certFile)
	}
	sum := sha256.Sum256(block.Bytes)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String(), nil
}

// Hosts returns the names a certificate for a listener on addr (host:port) should cover.
// A wildcard address (0.0.0.0, ::, or empty host) covers this machine's host name, localhost
// and every address of its interfaces, since clients may reach it by any of them.
func Hosts(addr string) ([]string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("parse listen address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "" && (ip == nil || !ip.IsUnspecified()) {
		return []string{host}, nil
	}
	var hosts []string
	if hn, err := os.Hostname(); err == nil && hn != "" {
		hosts = append(hosts, hn)
	}
	hosts = append(hosts, "localhost")
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
			hosts = append(hosts, n.IP.String())
		}
	}
	return hosts, nil
}
