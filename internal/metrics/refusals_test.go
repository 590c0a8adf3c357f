package metrics

import (
	"strings"
	"testing"
)

func TestRefusalCounters(t *testing.T) {
	reg := NewRegistry()
	v := NewValidator(reg)
	v.ProposalRefused(RefusalMissingBundle)
	v.ProposalRefused(RefusalWrongHeight)
	v.ProposalRefused(RefusalWrongHeight)
	v.ProposalRefused("made-up")
	v.BundleWaited(WaitRetried)
	v.BundleWaited("made-up")
	var none *Validator
	none.ProposalRefused(RefusalMissingBundle) // no metrics wired: nothing happens
	none.BundleWaited(WaitRetried)
	text := scrape(t, Handler(reg, HandlerOptions{}))
	for _, line := range []string{
		`mica_proposal_refusals_total{reason="missing_bundle"} 1`,
		`mica_proposal_refusals_total{reason="wrong_height"} 2`,
		`mica_proposal_refusals_total{reason="missing_blobs"} 0`,
		`mica_proposal_refusals_total{reason="other"} 1`,
		`mica_bundle_waits_total{outcome="retried"} 1`,
		`mica_bundle_waits_total{outcome="timed_out"} 1`,
	} {
		if !strings.Contains(text, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}
