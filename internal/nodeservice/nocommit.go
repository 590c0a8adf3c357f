package nodeservice

import "context"

// noCommitKey marks a request context whose application requests may not commit.
type noCommitKey struct{}

// WithoutCommit returns a context under which an application request (through Exec or
// Handler) commits nothing: if the application's service schedules operations, the
// request is answered with an error instead of a block. The MCP server runs an agent's
// application queries with it, so that an application whose query resolvers schedule
// operations cannot commit blocks past the wallet's agent policy.
func WithoutCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCommitKey{}, true)
}

// CommitForbidden reports whether ctx was made by WithoutCommit.
func CommitForbidden(ctx context.Context) bool {
	v, _ := ctx.Value(noCommitKey{}).(bool)
	return v
}

// errNoCommit is the answer to a request under WithoutCommit that scheduled operations.
const errNoCommit = "the request schedules operations (the application's service scheduled them while answering a query, or the caller may not mutate); nothing was committed"
