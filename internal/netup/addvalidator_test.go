package netup

import (
	"path/filepath"
	"testing"
)

// TestNetworkFileKeepsAddedValidators: net up's writes keep the validators another
// process added to network.json meanwhile, and RecordValidator adds or updates one
// by address.
func TestNetworkFileKeepsAddedValidators(t *testing.T) {
	dir := t.TempDir()
	mine := &NetworkFile{Genesis: "g.json", Validators: []ValidatorInfo{{Name: "validator-0", Address: "127.0.0.1:1"}}}
	if err := writeNetwork(dir, mine); err != nil {
		t.Fatal(err)
	}
	// Another process (net add-validator) appends one.
	disk, err := ReadNetworkFile(filepath.Join(dir, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	disk.Validators = append(disk.Validators, ValidatorInfo{Name: "validator-1", Address: "127.0.0.1:2", PID: 42})
	if err := writeNetwork(dir, disk); err != nil {
		t.Fatal(err)
	}
	// net up writes its own copy, which does not list it.
	mine.PID = 7
	if err := writeNetwork(dir, mine); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNetworkFile(filepath.Join(dir, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got.PID != 7 || len(got.Validators) != 2 || got.Validators[1].Name != "validator-1" || got.Validators[1].PID != 42 {
		t.Fatalf("network.json after net up's write: %+v", got)
	}
	// RecordValidator: a new address is appended, a known one gets the certificate.
	path := filepath.Join(dir, "network.json")
	if err := RecordValidator(path, ValidatorInfo{Name: "ext", Address: "10.0.0.1:9", TLSCert: "/a.pem"}); err != nil {
		t.Fatal(err)
	}
	if err := RecordValidator(path, ValidatorInfo{Name: "other", Address: "127.0.0.1:2", TLSCert: "/b.pem"}); err != nil {
		t.Fatal(err)
	}
	got, err = ReadNetworkFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Validators) != 3 || got.Validators[1].TLSCert != "/b.pem" || got.Validators[1].Name != "validator-1" || got.Validators[2].TLSCert != "/a.pem" {
		t.Fatalf("network.json after RecordValidator: %+v", got.Validators)
	}
	if err := RecordValidator(filepath.Join(dir, "missing.json"), ValidatorInfo{Address: "x:1"}); err == nil {
		t.Fatal("RecordValidator wrote a network description that did not exist")
	}
}
