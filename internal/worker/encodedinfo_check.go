//go:build !invariants

package worker

// checkEncodedInfo makes encodeInfo compare each answer built from newly encoded
// manager values with the info's encoding (build tag invariants, which CI sets).
const checkEncodedInfo = false

// checkKeptListings makes a chain-info answer served from a kept pending-bundle
// listing (keptListings) list the pending bundles again and compare (build tag
// invariants).
const checkKeptListings = false
