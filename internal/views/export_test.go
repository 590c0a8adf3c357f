package views

// MapFullCacheEntries exposes the bound on the entries a Map keeps after a full scan.
const MapFullCacheEntries = mapFullCacheEntries
