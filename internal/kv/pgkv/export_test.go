package pgkv

// WithPages returns o with Scan pages of at most rows rows and bytes bytes, so that tests
// reach the multi-page (transaction) path with little data.
func WithPages(o Options, rows int, bytes int64) Options {
	o.pageRows, o.pageBytes = rows, bytes
	return o
}
