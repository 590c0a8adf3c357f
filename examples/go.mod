module github.com/micachain/mica/examples

go 1.26

require github.com/micachain/mica/sdk v0.0.0

replace github.com/micachain/mica/sdk => ../sdk
