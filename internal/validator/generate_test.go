package validator

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

// TestGenerateWritesInternalPKI: every validator gets its own internal CA and
// certificate (keys mode 0600), the config names them, and with TLS a public
// certificate too; another validator's certificate is of another CA.
func TestGenerateWritesInternalPKI(t *testing.T) {
	dir := t.TempDir()
	_, paths, err := Generate(GenerateOptions{Dir: dir, Validators: 2, PortBase: 20000, Policy: protocol.NoFeesPolicy(), Rand: rand.Reader, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	var cas [][]byte
	for _, p := range paths {
		cfg, err := LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{cfg.InternalKey, cfg.TLSKey, cfg.KeyFile} {
			fi, err := os.Stat(key)
			if err != nil {
				t.Fatal(err)
			}
			if atomicfile.PermissionsEnforced() && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", key, fi.Mode().Perm())
			}
		}
		if filepath.Dir(cfg.InternalCA) != filepath.Dir(p) {
			t.Errorf("internal CA %s is not next to %s", cfg.InternalCA, p)
		}
		if _, _, err := rpc.InternalCredentials(cfg.InternalTLS()); err != nil {
			t.Errorf("%s: internal credentials: %v", p, err)
		}
		if _, err := rpc.ServerCredentials(cfg.TLSCert, cfg.TLSKey); err != nil {
			t.Errorf("%s: public credentials: %v", p, err)
		}
		ca, err := os.ReadFile(cfg.InternalCA)
		if err != nil {
			t.Fatal(err)
		}
		cas = append(cas, ca)
	}
	if string(cas[0]) == string(cas[1]) {
		t.Error("two validators share an internal CA")
	}
	// A key others can read is refused.
	cfg, err := LoadConfig(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if atomicfile.PermissionsEnforced() {
		if err := os.Chmod(cfg.InternalKey, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rpc.InternalCredentials(cfg.InternalTLS()); err == nil {
			t.Error("an internal key readable by others was accepted")
		}
	}
}
