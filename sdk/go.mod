module github.com/micachain/mica/sdk

go 1.26
