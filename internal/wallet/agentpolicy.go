package wallet

// The agent spending policy: what an AI agent connected through MCP may do with the
// wallet's chains, and the ledger of what it spent today.
//
//	DIR/agent-policy.json    the policy, written by `mica wallet agent-policy set` (mode 0600)
//	DIR/agent-spending.json  the day's spending, written by the node serving MCP (mode 0600)
//
// The two files have one writer each: the CLI writes the policy without taking the
// wallet's lock (so a user can raise a limit while `mica service` runs: the node re-reads
// the policy on every agent request), and only the process that has the wallet open
// (and serves MCP) writes the ledger. Both are replaced atomically.
//
// Absent policy file: the agent is read-only (it may query, and nothing else). A policy
// opens what it says, and no more:
//   - PerTransfer, PerDay: limits on the amount of one transfer (or of the balance given
//     to a new chain) and on the sum of those in one UTC day; nil means no limit.
//   - AllowRecipients: accounts ("OWNER@CHAIN") or chains ("CHAIN": any account on it)
//     a transfer may go to; empty means any recipient.
//   - AllowApplications: applications whose mutations the agent may call; empty means
//     none (an application's mutation can move tokens in ways the node cannot measure),
//     "*" means every application.
//   - ReadOnly: no mutation at all, whatever the rest says.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
)

const (
	agentPolicyFile   = "agent-policy.json"
	agentSpendingFile = "agent-spending.json"
	// AgentPolicyVersion is the format version of agent-policy.json and
	// agent-spending.json.
	AgentPolicyVersion = 1
	// maxAgentFile bounds what is read of either file (a policy with a few thousand
	// recipients fits).
	maxAgentFile = 1 << 20
	// AnyApplication in AllowApplications allows the mutations of every application.
	AnyApplication = "*"
)

// ErrAgentRefused marks a request the agent policy refuses. Class base.ErrInvalid.
var ErrAgentRefused = fmt.Errorf("%w: refused by the agent policy", base.ErrInvalid)

// refusal is an ErrAgentRefused with its own message (the message is what the agent
// reads, so it carries no prefix).
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Is(target error) bool {
	return target == ErrAgentRefused || target == base.ErrInvalid
}

func refusef(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...)}
}

// AgentPolicy is the agent spending policy of a wallet. The zero value allows every
// mutation without limits; NoAgentPolicy is what applies when the wallet has none.
type AgentPolicy struct {
	// PerTransfer limits one transfer (or the balance of one new chain); nil: no limit.
	PerTransfer *base.Amount
	// PerDay limits the sum of transfers in one UTC day; nil: no limit.
	PerDay *base.Amount
	// AllowRecipients lists the accounts and chains transfers may go to, in canonical
	// text; empty: any. Invariant: each parses with base.ParseAccount, sorted, unique.
	AllowRecipients []string
	// AllowApplications lists the applications (canonical text, or AnyApplication)
	// whose mutations are allowed; empty: none. Invariant: sorted, unique.
	AllowApplications []string
	// ReadOnly refuses every mutation.
	ReadOnly bool
}

// NoAgentPolicy is the policy in force when the wallet has no agent-policy.json: read
// only.
func NoAgentPolicy() *AgentPolicy { return &AgentPolicy{ReadOnly: true} }

type agentPolicyJSON struct {
	Version           int      `json:"version"`
	PerTransfer       *string  `json:"per_transfer,omitempty"`
	PerDay            *string  `json:"per_day,omitempty"`
	AllowRecipients   []string `json:"allow_recipients,omitempty"`
	AllowApplications []string `json:"allow_applications,omitempty"`
	ReadOnly          bool     `json:"read_only,omitempty"`
}

// AgentPolicyPath is the policy file of the wallet in dir.
func AgentPolicyPath(dir string) string { return filepath.Join(dir, agentPolicyFile) }

// AgentSpendingPath is the spending ledger of the wallet in dir.
func AgentSpendingPath(dir string) string { return filepath.Join(dir, agentSpendingFile) }

// Normalize checks p and puts its lists in canonical form (parsed and printed again,
// sorted, without duplicates). Its errors are of class base.ErrInvalid.
func (p *AgentPolicy) Normalize() error {
	recips := make([]string, 0, len(p.AllowRecipients))
	for _, r := range p.AllowRecipients {
		a, err := base.ParseAccount(r)
		if err != nil {
			return base.Invalidf("allowed recipient: %v", err)
		}
		recips = append(recips, a.String())
	}
	apps := make([]string, 0, len(p.AllowApplications))
	for _, s := range p.AllowApplications {
		if s == AnyApplication {
			apps = append(apps, s)
			continue
		}
		a, err := base.ParseApplicationID(s)
		if err != nil {
			return base.Invalidf("allowed application %q: want an application id (64 hex digits) or %q for all", s, AnyApplication)
		}
		apps = append(apps, a.String())
	}
	slices.Sort(recips)
	slices.Sort(apps)
	p.AllowRecipients = slices.Compact(recips)
	p.AllowApplications = slices.Compact(apps)
	if len(p.AllowRecipients) == 0 {
		p.AllowRecipients = nil
	}
	if len(p.AllowApplications) == 0 {
		p.AllowApplications = nil
	}
	return nil
}

// MarshalJSON writes the file form.
func (p *AgentPolicy) MarshalJSON() ([]byte, error) {
	j := agentPolicyJSON{Version: AgentPolicyVersion, AllowRecipients: p.AllowRecipients, AllowApplications: p.AllowApplications, ReadOnly: p.ReadOnly}
	if p.PerTransfer != nil {
		s := p.PerTransfer.String()
		j.PerTransfer = &s
	}
	if p.PerDay != nil {
		s := p.PerDay.String()
		j.PerDay = &s
	}
	return json.Marshal(j)
}

// ParseAgentPolicy decodes and checks the file form. Unknown fields are errors, so a
// typo never silently loosens a limit.
func ParseAgentPolicy(b []byte) (*AgentPolicy, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j agentPolicyJSON
	if err := dec.Decode(&j); err != nil {
		return nil, base.Invalidf("not a valid policy: %v", err)
	}
	if dec.More() {
		return nil, base.Invalidf("not a valid policy: data after the JSON object")
	}
	if j.Version != AgentPolicyVersion {
		return nil, base.Invalidf("format version %d, want %d", j.Version, AgentPolicyVersion)
	}
	p := &AgentPolicy{AllowRecipients: j.AllowRecipients, AllowApplications: j.AllowApplications, ReadOnly: j.ReadOnly}
	for _, f := range []struct {
		name string
		in   *string
		out  **base.Amount
	}{{"per_transfer", j.PerTransfer, &p.PerTransfer}, {"per_day", j.PerDay, &p.PerDay}} {
		if f.in == nil {
			continue
		}
		a, err := base.ParseAmount(*f.in)
		if err != nil {
			return nil, base.Invalidf("%s: %v", f.name, err)
		}
		*f.out = &a
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	return p, nil
}

// ReadAgentPolicy reads the policy of the wallet in dir. It returns NoAgentPolicy and
// found=false when there is no policy file; a file that cannot be read back is an error
// of class base.ErrInvalid naming the file and how to fix it.
func ReadAgentPolicy(dir string) (p *AgentPolicy, found bool, err error) {
	path := AgentPolicyPath(dir)
	b, err := readBounded(path)
	if errors.Is(err, os.ErrNotExist) {
		return NoAgentPolicy(), false, nil
	}
	if err == nil {
		p, err = ParseAgentPolicy(b)
	}
	if err != nil {
		return nil, false, fmt.Errorf("agent policy %s: %w (remove it with `mica wallet agent-policy clear`, then set it again with `mica wallet agent-policy set`)", path, err)
	}
	return p, true, nil
}

// WriteAgentPolicy checks p and writes it as the policy of the wallet in dir (mode
// 0600, atomically). The directory must exist.
func WriteAgentPolicy(dir string, p *AgentPolicy) error {
	if err := p.Normalize(); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("agent policy: wallet directory: %w", err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(AgentPolicyPath(dir), append(b, '\n'), 0o600)
}

// ClearAgentPolicy removes the policy of the wallet in dir (the agent is read-only
// again). The spending ledger stays.
func ClearAgentPolicy(dir string) error {
	if err := os.Remove(AgentPolicyPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("agent policy: %w", err)
	}
	return nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAgentFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxAgentFile {
		return nil, base.Invalidf("larger than %d bytes", maxAgentFile)
	}
	return b, nil
}

const setHint = "ask the user to change the wallet's agent policy with `mica wallet agent-policy set"

// CheckMutation refuses any mutation in read-only mode. what names the mutation for
// the message ("transfer", "mutation increment of application X").
func (p *AgentPolicy) CheckMutation(what string) error {
	if p.ReadOnly {
		return refusef("%s refused: the wallet's agent policy is read-only (agents may only query); %s ...` (without --read-only) if this should be allowed", what, setHint)
	}
	return nil
}

// CheckTransfer checks one transfer of amount to recipient (canonical account text; ""
// when the recipient is a new chain the wallet owns) against the mode, the per-transfer
// limit and the allowed recipients. The per-day limit is the ledger's (Reserve).
func (p *AgentPolicy) CheckTransfer(amount base.Amount, recipient string) error {
	if err := p.CheckMutation("transfer"); err != nil {
		return err
	}
	if p.PerTransfer != nil && amount.Compare(*p.PerTransfer) > 0 {
		return refusef("transfer of %s exceeds the per-transfer limit %s set by the wallet's agent policy; send at most %s, or %s --per-transfer ...`", amount, p.PerTransfer, p.PerTransfer, setHint)
	}
	if recipient != "" && len(p.AllowRecipients) > 0 && !p.RecipientAllowed(recipient) {
		return refusef("recipient %s is not allowed by the wallet's agent policy (allowed: %v); %s --allow-recipient %s ...`", recipient, p.AllowRecipients, setHint, recipient)
	}
	return nil
}

// RecipientAllowed reports whether a transfer to the account (canonical text) is
// allowed: it or its chain is listed, or the list is empty.
func (p *AgentPolicy) RecipientAllowed(account string) bool {
	if len(p.AllowRecipients) == 0 {
		return true
	}
	a, err := base.ParseAccount(account)
	if err != nil {
		return false
	}
	_, found := slices.BinarySearch(p.AllowRecipients, a.String())
	if found {
		return true
	}
	_, found = slices.BinarySearch(p.AllowRecipients, a.Chain.String())
	return found
}

// RestrictsRecipients reports whether transfers are limited to listed recipients.
func (p *AgentPolicy) RestrictsRecipients() bool { return len(p.AllowRecipients) > 0 }

// HasLimits reports whether p limits spending in any way (an amount limit or a
// recipient list), so that mutations that bypass the checked tools must be refused.
func (p *AgentPolicy) HasLimits() bool {
	return p.ReadOnly || p.PerTransfer != nil || p.PerDay != nil || len(p.AllowRecipients) > 0
}

// CheckApplication checks a mutation of application app (canonical text).
func (p *AgentPolicy) CheckApplication(app, what string) error {
	if err := p.CheckMutation(what); err != nil {
		return err
	}
	if slices.Contains(p.AllowApplications, AnyApplication) || slices.Contains(p.AllowApplications, app) {
		return nil
	}
	if len(p.AllowApplications) == 0 {
		return refusef("%s refused: the wallet's agent policy allows no application mutations; %s --allow-application %s ...` to allow this application", what, setHint, app)
	}
	return refusef("%s refused: application %s is not in the agent policy's allowed applications %v; %s --allow-application %s ...`", what, app, p.AllowApplications, setHint, app)
}

// AgentLedger is what the agent spent in the current UTC day, kept in
// agent-spending.json so that a restart does not reset the per-day limit. It is safe
// for concurrent use; one process at a time may have it open (the one holding the
// wallet).
type AgentLedger struct {
	path string

	mu    sync.Mutex
	day   string // "2006-01-02" (UTC) of spent
	spent base.Amount
}

type agentLedgerJSON struct {
	Version int    `json:"version"`
	Day     string `json:"day"`
	Spent   string `json:"spent"`
}

// OpenAgentLedger reads the ledger of the wallet in dir (empty if there is none). A
// file that cannot be read back is an error naming it (the agent cannot spend until it
// is fixed or removed: a lost ledger would reset the day's limit).
func OpenAgentLedger(dir string) (*AgentLedger, error) {
	l := &AgentLedger{path: AgentSpendingPath(dir)}
	b, err := readBounded(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent spending ledger %s: %w", l.path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j agentLedgerJSON
	err = dec.Decode(&j)
	if err == nil && j.Version != AgentPolicyVersion {
		err = fmt.Errorf("format version %d, want %d", j.Version, AgentPolicyVersion)
	}
	if err == nil {
		_, err = time.Parse(time.DateOnly, j.Day)
	}
	if err == nil {
		l.spent, err = base.ParseAmount(j.Spent)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: agent spending ledger %s: %v (remove it to reset today's agent spending to zero)", ErrDamaged, l.path, err)
	}
	l.day = j.Day
	return l, nil
}

// Spent returns what was spent on now's UTC day.
func (l *AgentLedger) Spent(now time.Time) base.Amount {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.day != now.UTC().Format(time.DateOnly) {
		return base.Amount{}
	}
	return l.spent
}

// Reserve counts amount as spent on now's UTC day if that keeps the day within
// perDay (nil: no limit), and persists the ledger before returning nil. It is called
// before the transfer is submitted and never undone: a transfer that then fails still
// counts (it may have been signed and may yet be committed), which errs on the side of
// the limit.
func (l *AgentLedger) Reserve(now time.Time, amount base.Amount, perDay *base.Amount) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	day := now.UTC().Format(time.DateOnly)
	spent := l.spent
	if l.day != day {
		spent = base.Amount{}
	}
	total, err := spent.Add(amount)
	if err != nil {
		return refusef("transfer of %s would overflow today's agent spending", amount)
	}
	if perDay != nil && total.Compare(*perDay) > 0 {
		left := perDay.SaturatingSub(spent)
		return refusef("transfer of %s exceeds the per-day limit %s set by the wallet's agent policy: %s already spent today (UTC %s), %s left; wait for the next UTC day, or %s --per-day ...`", amount, perDay, spent, day, left, setHint)
	}
	b, err := json.MarshalIndent(agentLedgerJSON{Version: AgentPolicyVersion, Day: day, Spent: total.String()}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(l.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("agent spending ledger: %w", err)
	}
	l.day, l.spent = day, total
	return nil
}
