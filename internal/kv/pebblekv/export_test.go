package pebblekv

// Flush writes the memtable to a table (for benchmarks that want both).
func (s *Store) Flush() error { return s.db.Flush() }
