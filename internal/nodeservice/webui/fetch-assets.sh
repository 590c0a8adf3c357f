#!/bin/sh
# Fetches the vendored GraphiQL UMD bundles into assets/ from the npm registry.
# Run by `go generate ./internal/nodeservice/webui`; the outputs are committed, so
# building Mica never needs the network. Versions and tarball hashes are pinned:
# a changed tarball fails the script instead of changing the bundle silently.
# To upgrade, change a version, run the script with the new hash unset to read
# the hash npm reports, review the bundle, then pin the new hash here and in
# webui.go's file names.
set -eu
cd "$(dirname "$0")"

GRAPHIQL=4.1.2
GRAPHIQL_SHA256=6aa9cb6d82e656d38b72991264f41545889881e8dc23059199be3b94fff2ad05
REACT=18.2.0
REACT_SHA256=a151f7caec911760e42b7a6f6f1dfcaba141fd11ff49e2af901a2eee0366297c
REACT_DOM_SHA256=20a71e86b691f860c781f3732a85c7b3c63c4d3d9a803dca9dfe6ed0eb30e2ef

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # name version sha256
	(cd "$tmp" && npm pack --silent "$1@$2" >/dev/null)
	tgz="$tmp/$1-$2.tgz"
	got=$(sha256sum "$tgz" | cut -d' ' -f1)
	if [ "$got" != "$3" ]; then
		echo "fetch-assets: $1@$2: sha256 $got, want $3" >&2
		exit 1
	fi
	mkdir -p "$tmp/$1"
	tar -xzf "$tgz" -C "$tmp/$1"
}

fetch graphiql "$GRAPHIQL" "$GRAPHIQL_SHA256"
fetch react "$REACT" "$REACT_SHA256"
fetch react-dom "$REACT" "$REACT_DOM_SHA256"

cp "$tmp/graphiql/package/graphiql.min.js" "assets/graphiql-$GRAPHIQL.min.js"
cp "$tmp/graphiql/package/graphiql.min.css" "assets/graphiql-$GRAPHIQL.min.css"
cp "$tmp/graphiql/package/LICENSE" "assets/LICENSE-graphiql.txt"
cp "$tmp/react/package/umd/react.production.min.js" "assets/react-$REACT.production.min.js"
cp "$tmp/react/package/LICENSE" "assets/LICENSE-react.txt"
cp "$tmp/react-dom/package/umd/react-dom.production.min.js" "assets/react-dom-$REACT.production.min.js"
cp "$tmp/react-dom/package/LICENSE" "assets/LICENSE-react-dom.txt"
