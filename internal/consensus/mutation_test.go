package consensus

import (
	"path/filepath"
	"testing"
)

// TestEveryRuleIsTested switches each voting rule off in turn and replays every scenario
// script: at least one script must produce different output, or the rule could be
// deleted without a test noticing.
func TestEveryRuleIsTested(t *testing.T) {
	files := scenarioFiles(t)
	for r := rule(1); r < 1<<numRules; r <<= 1 {
		var caught []string
		for _, f := range files {
			diff, _, err := replayScenario(f, ruleSet(r))
			if err != nil {
				t.Fatal(err)
			}
			if diff != "" {
				caught = append(caught, filepath.Base(f))
			}
		}
		if len(caught) == 0 {
			t.Errorf("rule %v: no scenario notices its removal", r)
			continue
		}
		t.Logf("rule %-30v removal noticed by %v", r, caught)
	}
}

// TestSafetySimulationFindsBrokenRules checks that the safety simulation has teeth:
// without the incompatible-confirmed-vote rule it finds two conflicting confirmed
// certificates (with the per-validator checks off, so only agreement is checked), and
// without other rules its per-validator checks fire.
func TestSafetySimulationFindsBrokenRules(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under the race detector; the rules are the same")
	}
	env := newSimEnv(9)
	for _, c := range []struct {
		r     rule
		local bool
	}{
		{ruleConfirmedVoteCompatible, false},
		{ruleConfirmOnlyInCurrentRound, true},
		{ruleFastOnlyInFastRound, true},
		{ruleLeaderRoundIsCurrent, true},
	} {
		seed, v, _ := runSims(env, 6000, ruleSet(c.r), c.local)
		if v == "" {
			t.Errorf("rule %v removed: no violation found in 6000 schedules", c.r)
			continue
		}
		t.Logf("rule %v removed: seed %d: %s", c.r, seed, v)
	}
}
