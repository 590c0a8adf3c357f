#!/bin/sh
# Regenerates internal/rpc/pb from internal/rpc/proto/mica.proto with the protoc
# plugins pinned as tools in go.mod (go get -tool ...). Needs protoc (Debian:
# apt-get install -y protobuf-compiler). Run `go generate ./internal/rpc` or sh gen.sh.
set -eu
cd "$(dirname "$0")"
protoc \
	--plugin=protoc-gen-go="$(go tool -n protoc-gen-go)" \
	--plugin=protoc-gen-go-grpc="$(go tool -n protoc-gen-go-grpc)" \
	--proto_path=proto \
	--go_out=pb --go_opt=paths=source_relative \
	--go-grpc_out=pb --go-grpc_opt=paths=source_relative \
	mica.proto
