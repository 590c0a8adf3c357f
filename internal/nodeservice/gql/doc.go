// Package gql is the code gqlgen generates from ../schema.graphqls (the node service's
// system schema): the executable schema, the resolver interfaces and the models. Do not
// edit generated.go or models_gen.go; run `go generate ./internal/nodeservice`.
package gql
