package sdk

import "embed"

// Version is the module version under which `mica project new` hands this SDK to
// generated projects (github.com/micachain/mica/sdk@Version, served by the mica binary
// from a local module proxy). Bump it whenever the SDK's API or behaviour changes.
const Version = "v0.2.2"

// Source is this module's source (go.mod, go.sum and the packages' Go files), which
// the mica binary embeds to serve the SDK to projects outside the repository. Test
// files are included here and left out of the module zip by the reader. Guest
// programs do not reference it, so the linker drops it from their Wasm.
//
//go:embed go.mod go.sum *.go internal sdktest
var Source embed.FS
