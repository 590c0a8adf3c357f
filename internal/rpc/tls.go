package rpc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/micachain/mica/internal/atomicfile"
)

// Transport security.
//
// Internal links (proxy ↔ shards, shard ↔ shard) use mutual TLS under a per-validator
// internal certificate authority: GenerateInternalTLS makes the CA and one certificate
// (server and client) signed by it, which every process of the validator presents. A
// shard accepts only clients presenting a certificate signed by that CA, and a proxy
// or shard accepts only a shard presenting one (InternalCredentials). The CA's private
// key is not kept: nothing else is ever signed by it, and rotating means generating
// anew. A validator running as one process has no internal port at all.
//
// The public endpoint may speak TLS (ServerCredentials); clients verify it against a
// pinned certificate or CA (PinnedCredentials), e.g. the self-signed certificate
// GenerateSelfSigned writes for `mica net up --tls`.

// InternalServerName is the name in the internal certificate; peers verify it.
const InternalServerName = "mica-internal"

// certValidity is how long generated certificates are valid.
const certValidity = 20 * 365 * 24 * time.Hour

// InternalTLSFiles names the files of a validator's internal PKI.
type InternalTLSFiles struct {
	CA   string // the internal CA's certificate (PEM)
	Cert string // the certificate every process of the validator presents (PEM)
	Key  string // its private key (PEM, mode 0600)
}

// GenerateInternalTLS makes a new internal CA and a certificate signed by it, and writes
// them to f atomically (the key with mode 0600). The CA's key is dropped.
func GenerateInternalTLS(f InternalTLSFiles, rand io.Reader, now time.Time) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(rand),
		Subject:               pkix.Name{CommonName: "mica validator internal CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(rand),
		Subject:      pkix.Name{CommonName: InternalServerName},
		DNSNames:     []string{InternalServerName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writeKeyPEM(f.Key, key); err != nil {
		return err
	}
	if err := atomicfile.Write(f.Cert, pemCert(der), 0o644); err != nil {
		return err
	}
	return atomicfile.Write(f.CA, pemCert(caDER), 0o644)
}

// GenerateSelfSigned writes a self-signed certificate for hosts (IP addresses or DNS
// names) and its key (mode 0600), atomically. Clients pin the certificate.
func GenerateSelfSigned(certPath, keyPath string, hosts []string, rand io.Reader, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(rand),
		Subject:               pkix.Name{CommonName: "mica validator"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := writeKeyPEM(keyPath, key); err != nil {
		return err
	}
	return atomicfile.Write(certPath, pemCert(der), 0o644)
}

func serial(rand io.Reader) *big.Int {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return big.NewInt(1)
	}
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeKeyPEM(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// loadKeyPair reads a certificate and its key, refusing a key file others can read.
// Errors name the files, never their content.
func loadKeyPair(certPath, keyPath string) (tls.Certificate, error) {
	fi, err := os.Stat(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if fi.Mode().Perm()&0o077 != 0 && atomicfile.PermissionsEnforced() {
		return tls.Certificate{}, fmt.Errorf("TLS key file %s is readable by others (mode %v): run chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load TLS certificate %s and key %s: %w", certPath, keyPath, err)
	}
	return pair, nil
}

// certPool reads PEM certificates into a pool.
func certPool(what string, pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", what)
	}
	return pool, nil
}

// InternalCredentials returns the credentials of a validator's internal links: server
// credentials that require a client certificate signed by the internal CA, and client
// credentials that present the validator's certificate and accept only a server whose
// certificate the internal CA signed.
func InternalCredentials(f InternalTLSFiles) (server, client credentials.TransportCredentials, err error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, nil, errors.New("the internal TLS files (internal_ca, internal_cert, internal_key) are not configured")
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("internal CA: %w (run `mica validator generate` to create the internal certificates)", err)
	}
	pool, err := certPool(f.CA, caPEM)
	if err != nil {
		return nil, nil, err
	}
	pair, err := loadKeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, nil, err
	}
	server = credentials.NewTLS(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	client = credentials.NewTLS(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   InternalServerName,
	})
	return server, client, nil
}

// ServerCredentials returns TLS credentials for the public endpoint from a certificate
// (chain) and key file.
func ServerCredentials(certPath, keyPath string) (credentials.TransportCredentials, error) {
	pair, err := loadKeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}), nil
}

// PinnedCredentials returns client credentials that accept only a validator whose
// certificate is, or is signed by, one of the PEM certificates given (the validator's
// self-signed certificate or its CA), for the host of the address dialed.
func PinnedCredentials(pemBytes []byte) (credentials.TransportCredentials, error) {
	pool, err := certPool("the pinned certificate", pemBytes)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}), nil
}

// PinnedCredentialsFile is PinnedCredentials of a PEM file.
func PinnedCredentialsFile(path string) (credentials.TransportCredentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return PinnedCredentials(b)
}
