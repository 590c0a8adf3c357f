#!/bin/sh
# Rebuilds the test guests from their WebAssembly text (needs wat2wasm from wabt).
set -e
cd "$(dirname "$0")"
for f in *.wat; do wat2wasm "$f" -o "${f%.wat}.wasm"; done
