package views

// MapFullCacheEntries exposes the bound on the entries a Map keeps after a full scan.
const MapFullCacheEntries = mapFullCacheEntries

// MapCachedMisses exposes the bound on the absent keys a Map remembers.
const MapCachedMisses = mapCachedMisses

// QueueCacheMax and QueueCacheBytes expose the bounds on what a Queue keeps cached from
// its front.
const (
	QueueCacheMax   = queueCacheMax
	QueueCacheBytes = queueCacheBytes
)

// QueueInlineMax and QueueInlineBytes expose the bounds on the entries a Queue holds in
// its header.
const (
	QueueInlineMax   = queueInlineMax
	QueueInlineBytes = queueInlineBytes
)

// CachedEntries returns the number of entries (present or known absent) m caches.
func CachedEntries[K, V any](m *Map[K, V]) int { return len(m.cache) }

// CachedQueueEntries returns the number of entries q caches.
func CachedQueueEntries[T any](q *Queue[T]) int { return len(q.x.cache) }

// LogCacheEntries and LogCacheBytes expose the bounds on what a Log caches.
const (
	LogCacheEntries = logCacheEntries
	LogCacheBytes   = logCacheBytes
)

// CachedLogEntries returns the number of stored entries l caches.
func CachedLogEntries[T any](l *Log[T]) int { return len(l.x.cache) }

// CachedLogBytes returns the encoded size of the stored entries l caches.
func CachedLogBytes[T any](l *Log[T]) int {
	n := 0
	for _, e := range l.x.cache {
		n += len(encode(l.x.c, e.v))
	}
	return n
}

// MapCachedEntries exposes the bound on the present entries a Map keeps cached.
const MapCachedEntries = mapCachedEntries
