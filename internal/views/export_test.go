package views

// MapFullCacheEntries exposes the bound on the entries a Map keeps after a full scan.
const MapFullCacheEntries = mapFullCacheEntries

// MapCachedMisses exposes the bound on the absent keys a Map remembers.
const MapCachedMisses = mapCachedMisses

// RangeCacheMax exposes the bound on the entries a Queue keeps cached from its front.
const RangeCacheMax = rangeCacheMax

// CachedEntries returns the number of entries (present or known absent) m caches.
func CachedEntries[K, V any](m *Map[K, V]) int { return len(m.cache) }

// CachedQueueEntries returns the number of entries q caches.
func CachedQueueEntries[T any](q *Queue[T]) int { return len(q.x.cache) }
