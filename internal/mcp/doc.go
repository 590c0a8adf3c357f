// Package mcp serves the node service to AI agents over the Model Context Protocol
// (the official Go SDK, github.com/modelcontextprotocol/go-sdk).
//
// Every tool is a GraphQL request to the node service, run in-process (GraphQL, no
// TCP hop): the system tools (balance, list_chains, get_block, transfer, open_chain,
// process_inbox, list_applications) query or mutate the system schema at "/"; for every
// application the wallet's chains use, one tool per field of its Query and Mutation
// types is generated from its schema by introspection (app_<id prefix>_<field>, with a
// JSON Schema of the arguments) and calls /chains/{chain}/applications/{app}; a raw
// graphql tool takes any document. Resources (mica://wallet, mica://chains/{chain})
// give chain state.
//
// Trust: an agent is not the wallet's owner. Every mutation goes through the wallet's
// agent spending policy (wallet.AgentPolicy, re-read on every call so the user can
// change it while the node runs): the transfer and open_chain tools check the
// per-transfer limit and the allowed recipients and reserve the amount in the day's
// ledger before submitting; application mutations need the application to be allowed;
// the raw graphql tool parses the document and refuses any mutation in read-only mode,
// system mutations whenever the policy limits spending (they could move tokens around
// the checks: changeOwnership, claim, closeChain...), and application mutations of
// applications not allowed. A refusal is a tool error (IsError) whose text tells the
// agent what to ask the user. An application's schema is untrusted input: see
// appschema.go for the bounds.
package mcp
