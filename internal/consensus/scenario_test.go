package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// The scenario language (testdata/*.txt). One manager — validator v0 — is under test;
// certificates are genuine quorums signed by the four validator keys v0..v3 (sorted by
// public key). Times are whole seconds. After every command the manager is encoded,
// decoded and re-encoded (bytes and info must be identical), and the scenario continues
// from the decoded copy, as a restarted validator would.
//
//	ownership [super=(S,..)] [owners=(A,..)] [weights=(w,..)] [multi-leader-rounds=N]
//	          [open] [fast-timeout=S] [base-timeout=S] [increment=S]
//	new-height [height=H] [now=T]          reset: a fresh manager for height H
//	propose owner=A round=R block=X [retry=fast [original=S]] [retry=validated cert=R']
//	        [fail] [height=H] [now=T]      worker flow: CheckInvariants, CheckProposal,
//	                                       RecordSignedProposal, execute (fail: stop
//	                                       here, as a failed execution), VoteForProposal
//	validated-cert round=R block=X [signers=(1,2,3)] [make] [height=H] [now=T]
//	                                       certify X in R (make: only build it, for a
//	                                       later retry), then Check and VoteForValidated
//	timeout-cert round=R [signers=(..)] [height=H] [now=T]   HandleTimeoutCertificate
//	timeout round=R [now=T]                VoteTimeout
//	leader round=R | can-propose owner=A round=R | info [values]
//
// Rounds: fast, multi-leader(N) or ml(N), single-leader(N) or sl(N), validator(N).
type scenario struct {
	validators []*crypto.PrivateKey
	committee  *protocol.Committee
	ownership  protocol.ChainOwnership
	names      map[base.Owner]string
	m          *Manager
	now        base.Timestamp
	certs      map[string]*protocol.Certificate   // "X@round" -> validated certificate
	fast       map[string]*protocol.BlockProposal // block name -> original fast proposal
	disabled   ruleSet
	// states collects the encoding of every state reached.
	states [][]byte
}

func newScenario(disabled ruleSet) *scenario {
	keys := prototest.Validators(4)
	return &scenario{
		validators: keys,
		committee:  prototest.Committee(keys),
		names:      make(map[base.Owner]string),
		certs:      make(map[string]*protocol.Certificate),
		fast:       make(map[string]*protocol.BlockProposal),
		disabled:   disabled,
	}
}

var sentinels = []struct {
	name string
	err  error
}{
	{"ErrWrongHeight", ErrWrongHeight},
	{"ErrWrongRound", ErrWrongRound},
	{"ErrRoundTooLow", ErrRoundTooLow},
	{"ErrNotNewerThanLock", ErrNotNewerThanLock},
	{"ErrIncompatibleConfirmedVote", ErrIncompatibleConfirmedVote},
	{"ErrNotAllowedToPropose", ErrNotAllowedToPropose},
	{"ErrRoundDoesNotTimeOut", ErrRoundDoesNotTimeOut},
	{"ErrNotTimedOutYet", ErrNotTimedOutYet},
	{"ErrMalformedInput", ErrMalformedInput},
	{"ErrAlreadyHandled", ErrAlreadyHandled},
}

// describeErr names the error's sentinel and checks the classification contract.
func describeErr(err error) (string, error) {
	if !errors.Is(err, base.ErrInvalid) {
		return "", fmt.Errorf("error %q is not of class base.ErrInvalid", err)
	}
	var names []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			names = append(names, s.name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("error %q matches sentinels %v, want exactly one", err, names)
	}
	return fmt.Sprintf("refused %s: %v\n", names[0], err), nil
}

// describeErr is describeErr with owner addresses replaced by their names.
func (s *scenario) describeErr(err error) (string, error) {
	out, err := describeErr(err)
	for o, n := range s.names {
		out = strings.ReplaceAll(out, o.String(), n)
	}
	return out, err
}

func parseRound(s string) (base.Round, error) {
	if s == "fast" {
		return base.FastRound, nil
	}
	kind, rest, ok := strings.Cut(s, "(")
	if !ok || !strings.HasSuffix(rest, ")") {
		return base.Round{}, fmt.Errorf("bad round %q", s)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(rest, ")"), 10, 32)
	if err != nil {
		return base.Round{}, fmt.Errorf("bad round %q: %v", s, err)
	}
	switch kind {
	case "ml", "multi-leader":
		return base.MultiLeader(uint32(n)), nil
	case "sl", "single-leader":
		return base.SingleLeader(uint32(n)), nil
	case "validator":
		return base.ValidatorRound(uint32(n)), nil
	}
	return base.Round{}, fmt.Errorf("bad round kind %q", kind)
}

func seconds(t base.Timestamp) string {
	if t%1_000_000 == 0 {
		return fmt.Sprintf("%ds", t/1_000_000)
	}
	return fmt.Sprintf("%dus", uint64(t))
}

type args []datadriven.CmdArg

func (a args) get(key string) (string, bool) {
	for _, arg := range a {
		if arg.Key == key {
			if len(arg.Vals) == 0 {
				return "", true
			}
			return arg.Vals[0], true
		}
	}
	return "", false
}

func (a args) list(key string) []string {
	for _, arg := range a {
		if arg.Key == key {
			return arg.Vals
		}
	}
	return nil
}

func (a args) has(key string) bool { _, ok := a.get(key); return ok }

func (a args) must(key string) (string, error) {
	v, ok := a.get(key)
	if !ok || v == "" {
		return "", fmt.Errorf("missing argument %s", key)
	}
	return v, nil
}

func (a args) round(key string) (base.Round, error) {
	v, err := a.must(key)
	if err != nil {
		return base.Round{}, err
	}
	return parseRound(v)
}

func (a args) seconds(key string) (base.TimeDelta, bool, error) {
	v, ok := a.get(key)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("bad %s=%q", key, v)
	}
	return base.TimeDelta(n * 1_000_000), true, nil
}

// height is the height=H argument, or the manager's height: inputs for other heights.
func (s *scenario) height(a args) (base.BlockHeight, error) {
	v, ok := a.get("height")
	if !ok {
		return s.m.Height(), nil
	}
	h, err := strconv.ParseUint(v, 10, 64)
	return base.BlockHeight(h), err
}

func (s *scenario) owner(name string) base.Owner {
	o := ownerKey(name).Public().Owner()
	s.names[o] = name
	return o
}

func (s *scenario) ownerName(o base.Owner) string {
	if n, ok := s.names[o]; ok {
		return n
	}
	return o.String()
}

// blockName is the name a test block carries in its only operation.
func blockName(b *protocol.ProposedBlock) string {
	if len(b.Transactions) == 1 && b.Transactions[0].Operation != nil {
		return string(b.Transactions[0].Operation.Bytes)
	}
	return "?"
}

func (s *scenario) signers(a args, def []int) ([]*crypto.PrivateKey, error) {
	idx := def
	if l := a.list("signers"); l != nil {
		idx = nil
		for _, v := range l {
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 || i >= len(s.validators) {
				return nil, fmt.Errorf("bad signer %q", v)
			}
			idx = append(idx, i)
		}
	}
	keys := make([]*crypto.PrivateKey, len(idx))
	for i, j := range idx {
		keys[i] = s.validators[j]
	}
	return keys, nil
}

// exec runs one command and returns its output; errors are script errors.
func (s *scenario) exec(cmd string, a args) (string, error) {
	if d, ok, err := a.seconds("now"); err != nil {
		return "", err
	} else if ok {
		s.now = base.Timestamp(d)
	}
	if cmd != "ownership" && cmd != "new-height" && s.m == nil {
		return "", fmt.Errorf("%s before new-height", cmd)
	}
	var out string
	var err error
	switch cmd {
	case "ownership":
		return s.cmdOwnership(a)
	case "new-height":
		var h uint64
		if v, ok := a.get("height"); ok {
			if h, err = strconv.ParseUint(v, 10, 64); err != nil {
				return "", err
			}
		}
		s.m = NewManager(s.ownership, base.BlockHeight(h), s.now)
		s.m.disabled = s.disabled
		s.certs = make(map[string]*protocol.Certificate)
		s.fast = make(map[string]*protocol.BlockProposal)
	case "propose":
		out, err = s.cmdPropose(a)
	case "validated-cert":
		out, err = s.cmdValidatedCert(a)
	case "timeout-cert":
		out, err = s.cmdTimeoutCert(a)
	case "timeout":
		out, err = s.cmdTimeout(a)
	case "leader":
		r, err := a.round("round")
		if err != nil {
			return "", err
		}
		if l, ok := s.m.Leader(r); ok {
			return "leader: " + s.ownerName(l) + "\n", nil
		}
		return "leader: none\n", nil
	case "can-propose":
		r, err := a.round("round")
		if err != nil {
			return "", err
		}
		name, err := a.must("owner")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%v\n", s.m.CanPropose(s.owner(name), r)), nil
	case "info":
		return s.info(a.has("values")), nil
	default:
		return "", fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		return "", err
	}
	d, b, err := roundTripManager(s.m)
	if err != nil {
		return "", fmt.Errorf("after %s: %w", cmd, err)
	}
	s.m = d
	s.states = append(s.states, b)
	return out + s.state(), nil
}

func (s *scenario) cmdOwnership(a args) (string, error) {
	var o protocol.ChainOwnership
	o.Timeouts = protocol.DefaultTimeoutConfig()
	for _, n := range a.list("super") {
		o.SuperOwners = append(o.SuperOwners, s.owner(n))
	}
	slices.SortFunc(o.SuperOwners, base.Owner.Compare)
	weights := a.list("weights")
	for i, n := range a.list("owners") {
		w := uint64(100)
		if i < len(weights) {
			var err error
			if w, err = strconv.ParseUint(weights[i], 10, 64); err != nil {
				return "", err
			}
		}
		o.Owners = append(o.Owners, protocol.OwnerWeight{Owner: s.owner(n), Weight: w})
	}
	slices.SortFunc(o.Owners, func(x, y protocol.OwnerWeight) int { return x.Owner.Compare(y.Owner) })
	if v, ok := a.get("multi-leader-rounds"); ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return "", err
		}
		o.MultiLeaderRounds = uint32(n)
	}
	o.OpenMultiLeaderRounds = a.has("open")
	if d, ok, err := a.seconds("fast-timeout"); err != nil {
		return "", err
	} else if ok {
		o.Timeouts.FastRoundDuration = &d
	}
	if d, ok, err := a.seconds("base-timeout"); err != nil {
		return "", err
	} else if ok {
		o.Timeouts.BaseTimeout = d
	}
	if d, ok, err := a.seconds("increment"); err != nil {
		return "", err
	} else if ok {
		o.Timeouts.TimeoutIncrement = d
	}
	if err := o.Validate(); err != nil {
		return "", err
	}
	s.ownership = o
	var b strings.Builder
	fmt.Fprintf(&b, "first round: %v\n", o.FirstRound())
	return b.String(), nil
}

func (s *scenario) cmdPropose(a args) (string, error) {
	name, err := a.must("owner")
	if err != nil {
		return "", err
	}
	signer := ownerKey(name)
	s.owner(name)
	round, err := a.round("round")
	if err != nil {
		return "", err
	}
	bname, err := a.must("block")
	if err != nil {
		return "", err
	}
	height, err := s.height(a)
	if err != nil {
		return "", err
	}
	block := testBlock(height, bname)
	var p *protocol.BlockProposal
	switch retry, _ := a.get("retry"); retry {
	case "":
		p, err = protocol.SignProposal(signer, block.Proposed, round, nil)
		if err == nil && round.IsFast() {
			if _, ok := s.fast[bname]; !ok {
				s.fast[bname] = p
			}
		}
	case "fast":
		orig, ok := s.fast[bname]
		if !ok {
			oname, err := a.must("original")
			if err != nil {
				return "", fmt.Errorf("fast retry of %s: no known fast proposal: %w", bname, err)
			}
			s.owner(oname)
			if orig, err = protocol.SignProposal(ownerKey(oname), block.Proposed, base.FastRound, nil); err != nil {
				return "", err
			}
			s.fast[bname] = orig
		}
		p, err = protocol.SignFastRetry(signer, orig, round)
	case "validated":
		cr, err := a.round("cert")
		if err != nil {
			return "", err
		}
		c, ok := s.certs[bname+"@"+cr.String()]
		if !ok {
			return "", fmt.Errorf("no validated certificate %s@%v (use validated-cert ... make)", bname, cr)
		}
		p, err = protocol.SignRegularRetry(signer, c, round, nil)
		if err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("bad retry=%q", retry)
	}
	if err != nil {
		return "", err
	}
	// The worker's checks before the manager's.
	if err := p.CheckInvariants(); err != nil {
		return "", fmt.Errorf("proposal invariants: %w", err)
	}
	if p.IsRegularRetry() {
		if err := p.Original.Regular.Check(s.committee); err != nil {
			return "", fmt.Errorf("retry certificate: %w", err)
		}
	}
	m := s.m
	out, err := m.CheckProposal(p)
	if err != nil {
		return s.describeErr(err)
	}
	if out == Skip {
		return "skip: already voted on this proposal\n", nil
	}
	m.RecordSignedProposal(p, s.now)
	if a.has("fail") {
		return "execution failed: no vote\n", nil
	}
	v, err := m.VoteForProposal(p, executeProposal(p), s.validators[0], s.now)
	if err != nil {
		return s.describeErr(err)
	}
	return s.describeVote(&v)
}

func (s *scenario) describeVote(v *protocol.Vote) (string, error) {
	if err := v.Verify(); err != nil {
		return "", err
	}
	if v.Validator != s.validators[0].Public() {
		return "", fmt.Errorf("vote signed by %s, not v0", v.Validator)
	}
	if v.Value.Height != s.m.Height() || v.Value.ChainID != testChain {
		return "", fmt.Errorf("vote for chain %s height %d", v.Value.ChainID.Short(), v.Value.Height)
	}
	if v.Value.Kind == protocol.KindTimeout {
		return fmt.Sprintf("vote: timeout in %v\n", v.Round), nil
	}
	return fmt.Sprintf("vote: %v %s in %v\n", v.Value.Kind, s.hashName(v.Value.ValueHash), v.Round), nil
}

func (s *scenario) hashName(h base.Hash) string {
	for _, n := range []string{"X", "Y", "Z", "W"} {
		if testBlock(s.m.Height(), n).Hash() == h {
			return n
		}
	}
	return h.Short()
}

func (s *scenario) cmdValidatedCert(a args) (string, error) {
	round, err := a.round("round")
	if err != nil {
		return "", err
	}
	bname, err := a.must("block")
	if err != nil {
		return "", err
	}
	keys, err := s.signers(a, []int{1, 2, 3})
	if err != nil {
		return "", err
	}
	height, err := s.height(a)
	if err != nil {
		return "", err
	}
	c := prototest.Certify(protocol.KindValidated, testBlock(height, bname), nil, round, keys)
	if err := c.Check(s.committee); err != nil {
		return "", fmt.Errorf("certificate: %w", err)
	}
	s.certs[bname+"@"+round.String()] = c
	if a.has("make") {
		return fmt.Sprintf("made validated certificate %s@%v\n", bname, round), nil
	}
	out, err := s.m.CheckValidatedCertificate(c)
	if err != nil {
		return s.describeErr(err)
	}
	if out == Skip {
		return "skip: already handled this certificate\n", nil
	}
	v, err := s.m.VoteForValidated(c, s.validators[0], s.now)
	if err != nil {
		return s.describeErr(err)
	}
	if v == nil {
		return fmt.Sprintf("locked, no vote: certificate round %v is not the current round\n", round), nil
	}
	return s.describeVote(v)
}

func (s *scenario) cmdTimeoutCert(a args) (string, error) {
	round, err := a.round("round")
	if err != nil {
		return "", err
	}
	keys, err := s.signers(a, []int{1, 2, 3})
	if err != nil {
		return "", err
	}
	height, err := s.height(a)
	if err != nil {
		return "", err
	}
	t := &protocol.Timeout{ChainID: testChain, Height: height}
	c := prototest.Certify(protocol.KindTimeout, nil, t, round, keys)
	if err := c.Check(s.committee); err != nil {
		return "", fmt.Errorf("certificate: %w", err)
	}
	changed, err := s.m.HandleTimeoutCertificate(c, s.now)
	if err != nil {
		return s.describeErr(err)
	}
	if !changed {
		return "ignored: not newer than the known timeout certificate\n", nil
	}
	return "recorded\n", nil
}

func (s *scenario) cmdTimeout(a args) (string, error) {
	round, err := a.round("round")
	if err != nil {
		return "", err
	}
	v, err := s.m.VoteTimeout(testChain, 0, round, s.validators[0], s.now)
	if err != nil {
		return s.describeErr(err)
	}
	return s.describeVote(v)
}

func (s *scenario) state() string {
	m := s.m
	var b strings.Builder
	fmt.Fprintf(&b, "state: round=%v", m.CurrentRound())
	if t, ok := m.RoundTimeout(); ok {
		fmt.Fprintf(&b, " timeout=%s", seconds(t))
	} else {
		b.WriteString(" timeout=none")
	}
	switch {
	case m.lockingValidated != nil:
		fmt.Fprintf(&b, " lock=validated(%s@%v)", s.hashName(m.lockingValidated.Block.Hash()), m.lockingValidated.Round)
	case m.lockingFast != nil:
		fmt.Fprintf(&b, " lock=fast(%s)", blockName(&m.lockingFast.Content.Block))
	}
	if v := m.pendingVote(); v != nil {
		fmt.Fprintf(&b, " pending=%v(%s@%v)", v.Value.Kind, s.hashName(v.Value.ValueHash), v.Round)
	}
	if p := m.proposed; p != nil {
		fmt.Fprintf(&b, " proposed=%s@%v", blockName(&p.Content.Block), p.Content.Round)
	}
	if p := m.signedProposal; p != nil {
		fmt.Fprintf(&b, " signed=%s@%v", blockName(&p.Content.Block), p.Content.Round)
	}
	if c := m.timeoutCert; c != nil {
		fmt.Fprintf(&b, " timeout-cert=%v", c.Round)
	}
	b.WriteString("\n")
	return b.String()
}

func (s *scenario) info(values bool) string {
	i := s.m.Info(values)
	var b strings.Builder
	fmt.Fprintf(&b, "current round: %v\n", i.CurrentRound)
	if i.Leader != nil {
		fmt.Fprintf(&b, "leader: %s\n", s.ownerName(*i.Leader))
	} else {
		b.WriteString("leader: none\n")
	}
	if i.RoundTimeout != nil {
		fmt.Fprintf(&b, "round timeout: %s\n", seconds(*i.RoundTimeout))
	} else {
		b.WriteString("round timeout: none\n")
	}
	if v := i.PendingVote; v != nil {
		fmt.Fprintf(&b, "pending vote: %v %s in %v\n", v.Value.Kind, s.hashName(v.Value.ValueHash), v.Round)
	} else {
		b.WriteString("pending vote: none\n")
	}
	if v := i.TimeoutVote; v != nil {
		fmt.Fprintf(&b, "timeout vote: %v\n", v.Round)
	} else {
		b.WriteString("timeout vote: none\n")
	}
	if !values {
		return b.String()
	}
	if c := i.LockingValidated; c != nil {
		fmt.Fprintf(&b, "locking: validated certificate %s@%v (%d signatures)\n", s.hashName(c.Block.Hash()), c.Round, len(c.Signatures))
	}
	if p := i.LockingFast; p != nil {
		fmt.Fprintf(&b, "locking: fast proposal %s by %s\n", blockName(&p.Content.Block), s.ownerName(p.Owner()))
	}
	if p := i.Proposed; p != nil {
		fmt.Fprintf(&b, "proposed: %s in %v by %s\n", blockName(&p.Content.Block), p.Content.Round, s.ownerName(p.Owner()))
	}
	if c := i.TimeoutCert; c != nil {
		fmt.Fprintf(&b, "timeout certificate: %v\n", c.Round)
	}
	return b.String()
}

// scenarioFiles lists the scenario scripts.
func scenarioFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	return files
}

func TestScenarios(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			s := newScenario(0)
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				out, err := s.exec(d.Cmd, args(d.CmdArgs))
				if err != nil {
					t.Fatalf("%s: %v", d.Pos, err)
				}
				return out
			})
		})
	}
}

// scenarioCase is one directive of a scenario file and its expected output.
type scenarioCase struct {
	pos      string
	line     string
	expected string
}

// parseScenario reads a scenario file without datadriven's runner, so a test can replay
// it against a mutated manager and compare outputs itself. Scenario files use the plain
// format only: a directive line, "----", the expected lines, a blank line.
func parseScenario(path string) ([]scenarioCase, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	var cases []scenarioCase
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := scenarioCase{pos: fmt.Sprintf("%s:%d", path, i+1), line: l}
		i++
		if i >= len(lines) || lines[i] != "----" {
			return nil, fmt.Errorf("%s: directive without ----", c.pos)
		}
		var exp strings.Builder
		for i++; i < len(lines) && lines[i] != ""; i++ {
			exp.WriteString(lines[i] + "\n")
		}
		c.expected = exp.String()
		cases = append(cases, c)
	}
	return cases, nil
}

// replayScenario runs a scenario file against managers with the given rules disabled and
// reports the first directive whose output differs from the expected one ("" if none).
func replayScenario(path string, disabled ruleSet) (string, [][]byte, error) {
	cases, err := parseScenario(path)
	if err != nil {
		return "", nil, err
	}
	s := newScenario(disabled)
	for _, c := range cases {
		cmd, cargs, err := datadriven.ParseLine(c.line)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %v", c.pos, err)
		}
		out, err := s.exec(cmd, args(cargs))
		if err != nil {
			return c.pos + ": " + err.Error(), s.states, nil
		}
		if out != c.expected {
			return c.pos + ": " + c.line, s.states, nil
		}
	}
	return "", s.states, nil
}

// TestScenarioParser checks that the replay parser reads every scenario file the way
// datadriven does: replaying with no rule disabled matches every expected output.
func TestScenarioParser(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		diff, _, err := replayScenario(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff != "" {
			t.Errorf("replay of %s differs at %s", path, diff)
		}
	}
}
