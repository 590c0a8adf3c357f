package rpc

import (
	"testing"

	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// serviceMethods lists the full method names of every service in the generated
// descriptor of mica.proto.
func serviceMethods() []string {
	var names []string
	services := pb.File_mica_proto.Services()
	for i := range services.Len() {
		s := services.Get(i)
		methods := s.Methods()
		for j := range methods.Len() {
			names = append(names, "/"+string(s.FullName())+"/"+string(methods.Get(j).Name()))
		}
	}
	return names
}

// TestMethodTableCoversServices: every method of every service in mica.proto has a row
// in the limits table, with a budget and, on the public endpoint, a receive timeout;
// and the table has no row for a method that no longer exists. A method added to the
// proto without a row fails here instead of running under a default row.
func TestMethodTableCoversServices(t *testing.T) {
	methods := serviceMethods()
	if len(methods) < 20 {
		t.Fatalf("only %d methods in the descriptor", len(methods))
	}
	pub := DefaultLimits(protocol.NoFeesPolicy())
	internal := InternalLimits(protocol.NoFeesPolicy())
	for _, l := range []struct {
		name   string
		limits Limits
	}{{"public", pub}, {"internal", internal}} {
		seen := map[string]bool{}
		for _, m := range methods {
			seen[m] = true
			row, ok := l.limits.Methods[m]
			if !ok {
				t.Errorf("%s limits: %s has no row", l.name, m)
				continue
			}
			if row.Budget <= 0 {
				t.Errorf("%s limits: %s has no budget", l.name, m)
			}
			if l.name == "public" && row.ReceiveTimeout <= 0 {
				t.Errorf("public limits: %s has no receive timeout", m)
			}
		}
		for m := range l.limits.Methods {
			if !seen[m] {
				t.Errorf("%s limits: row for %s, which no service has", l.name, m)
			}
		}
	}
	// The methods that make a validator execute or store a block or a blob are heavy.
	for _, m := range []string{
		pb.ValidatorNode_HandleBlockProposal_FullMethodName, pb.ValidatorNode_HandleCertificate_FullMethodName,
		pb.ValidatorNode_HandleBlockProposals_FullMethodName, pb.ValidatorNode_HandleCertificates_FullMethodName,
		pb.ValidatorNode_UploadBlob_FullMethodName, pb.ValidatorNode_HandleBlockProposalChunks_FullMethodName,
		pb.ValidatorNode_HandleCertificateChunks_FullMethodName, pb.ValidatorNode_UploadBlobChunks_FullMethodName,
	} {
		if !pub.heavy(m) {
			t.Errorf("%s is not heavy", m)
		}
	}
	// Reads and subscriptions are not: filling the heavy slots must not stop them.
	for _, m := range []string{
		pb.ValidatorNode_HandleChainInfoQuery_FullMethodName, pb.ValidatorNode_DownloadCertificates_FullMethodName,
		pb.ValidatorNode_HandleLiteCertificate_FullMethodName, pb.ValidatorNode_Subscribe_FullMethodName,
	} {
		if pub.heavy(m) {
			t.Errorf("%s is heavy", m)
		}
	}
}

// TestLimitsReadTheMethodRow: the in-flight admission and the budget check read a
// method's row, whatever it is: a row changed in the table changes the limit applied.
func TestLimitsReadTheMethodRow(t *testing.T) {
	l := DefaultLimits(protocol.NoFeesPolicy())
	m := pb.ValidatorNode_GetVersionInfo_FullMethodName
	if l.heavy(m) {
		t.Fatal("GetVersionInfo is heavy by default")
	}
	row := l.Methods[m]
	row.Heavy, row.Budget = true, 3
	l.Methods[m] = row
	if !l.heavy(m) || l.budget(m) != 3 {
		t.Fatalf("changed row not read: heavy %v, budget %d", l.heavy(m), l.budget(m))
	}
	if err := l.check(m, &pb.VersionInfo{Version: "four"}); err == nil {
		t.Error("a request over its row's budget passed the check")
	}
	if got := l.method("/mica.rpc.v1.ValidatorNode/NoSuchMethod"); got != unlisted {
		t.Errorf("unlisted method's row: %+v", got)
	}
}
