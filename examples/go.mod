module github.com/micachain/mica/examples

go 1.26

require github.com/micachain/mica/sdk v0.0.0

require github.com/graph-gophers/graphql-go v1.11.0 // indirect

replace github.com/micachain/mica/sdk => ../sdk
