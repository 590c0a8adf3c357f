module github.com/micachain/mica

go 1.26
