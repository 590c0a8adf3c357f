// Package storage is a validator's (or client's) store over one ordered key-value
// database: chain states (as views under a per-chain prefix), confirmed certificates by
// block hash and by (chain, height), blobs by id, events by id, and the genesis
// configuration.
//
// Blobs live in two areas (DESIGN §9): confirmed blobs, written only by genesis and by a
// verified confirmed certificate (what its block publishes and creates), and a bounded,
// expiring pending area for blobs a proposal or a verified certificate needs before its
// block is confirmed. Chain descriptions and committees are read only from the confirmed
// area.
//
// Writes are batches: everything a confirmed block changes (its certificate, height index,
// created blobs and events, and the chain state) goes into one kv.Batch written
// atomically. Write is durable when it returns; concurrent writers share fsyncs through
// the backend's group commit (pebblekv). WriteLazy is for what a restart re-derives or a
// client sends again (the worker's confirmed blocks, docs/adr/0005, and cross-chain
// receipts and confirmations): it is ordered with every other write and made durable by
// the next durable one (the validator's votes).
//
// Storage is safe for concurrent use; chain states are not (the worker holds a per-chain
// lock around them).
package storage

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/boundedset"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// Key prefixes. Each is one byte and the partitions never overlap.
const (
	prefixChain       = 'C' // C chain-id ... : chain state views
	prefixCertificate = 'K' // K block-hash : confirmed certificate
	prefixHeight      = 'H' // H chain-id height(BE) : block hash
	prefixBlob        = 'B' // B type hash : confirmed blob content (see pending.go for the pending area)
	prefixEvent       = 'E' // E event-id : event value
	prefixGenesis     = 'N' // N : genesis configuration
	prefixBlobSize    = 'S' // S type hash : size of the confirmed blob's content (uvarint)
)

// Storage is the store of one validator or client.
type Storage struct {
	db      kv.Store
	pending pendingArea
	// known are blob ids found confirmed (HasBlob, Blob).
	known *boundedset.Set[base.BlobID]
}

// New wraps a database. The caller keeps ownership of db and closes it.
func New(db kv.Store) *Storage {
	return &Storage{db: db, pending: pendingArea{limits: DefaultPendingLimits}, known: boundedset.New[base.BlobID](maxKnownBlobs)}
}

// DB returns the underlying database.
func (s *Storage) DB() kv.Store { return s.db }

// Write applies a batch atomically and durably.
func (s *Storage) Write(ctx context.Context, b *kv.Batch) error {
	if b.Empty() {
		return nil
	}
	if err := s.db.Write(ctx, b); err != nil {
		return fmt.Errorf("storage write: %w", err)
	}
	return nil
}

// WriteLazy applies a batch atomically without waiting for it to be durable when the
// database can (kv.LazyWriter), and durably otherwise. Only for writes that a crash may
// lose because they are re-derived after a restart; the caller states why in a comment.
// A crash loses a suffix of the writes, and every durable Write that returns after it
// makes it durable too (kv.LazyWriter).
func (s *Storage) WriteLazy(ctx context.Context, b *kv.Batch) error {
	if b.Empty() {
		return nil
	}
	lw, ok := s.db.(kv.LazyWriter)
	if !ok {
		return s.Write(ctx, b)
	}
	if err := lw.WriteLazy(ctx, b); err != nil {
		return fmt.Errorf("storage write: %w", err)
	}
	return nil
}

// ChainPrefix returns the key prefix under which a chain's state lives.
func ChainPrefix(id base.ChainID) []byte {
	return append([]byte{prefixChain}, id[:]...)
}

func certKey(h base.Hash) []byte { return append([]byte{prefixCertificate}, h[:]...) }

func heightKey(id base.ChainID, h base.BlockHeight) []byte {
	k := append([]byte{prefixHeight}, id[:]...)
	return binary.BigEndian.AppendUint64(k, uint64(h))
}

func blobKey(id base.BlobID) []byte {
	k := []byte{prefixBlob, byte(id.Type)}
	return append(k, id.Hash[:]...)
}

func blobSizeKey(id base.BlobID) []byte {
	k := []byte{prefixBlobSize, byte(id.Type)}
	return append(k, id.Hash[:]...)
}

func eventKey(id *protocol.EventID) []byte {
	return append([]byte{prefixEvent}, codec.Marshal(id)...)
}

// PutCertificate adds a confirmed certificate to b: the certificate by block hash, the
// height index, the blobs its block created and the events it emitted.
func PutCertificate(b *kv.Batch, cert *protocol.Certificate) { PutEncodedCertificate(b, cert, nil) }

// PutEncodedCertificate is PutCertificate for a certificate whose canonical encoding is
// at hand (the bytes it was strictly decoded from): they are stored as they are, taken
// by b without a copy (kv.Batch.PutOwned), so nobody may modify them while b holds them.
// With encoded nil the certificate is encoded.
func PutEncodedCertificate(b *kv.Batch, cert *protocol.Certificate, encoded []byte) {
	block := cert.Block
	h := block.Hash()
	if encoded == nil {
		encoded = codec.Marshal(cert)
	}
	b.PutOwned(certKey(h), encoded)
	b.Put(heightKey(block.ChainID(), block.Height()), h[:])
	for _, blob := range block.CreatedBlobs() {
		PutBlob(b, &blob)
	}
	for _, evs := range block.Outcome.Events {
		for i := range evs {
			e := &evs[i]
			id := protocol.EventID{Chain: block.ChainID(), Stream: e.Stream, Index: e.Index}
			b.Put(eventKey(&id), e.Value)
		}
	}
}

// PutBlob adds a blob to the confirmed area in b, with its size (BlobSize). Only genesis
// and the handling of a verified confirmed certificate (the blobs it publishes and
// creates) may call it.
func PutBlob(b *kv.Batch, blob *protocol.Blob) {
	id := blob.ID()
	b.Put(blobKey(id), blob.Content)
	b.Put(blobSizeKey(id), binary.AppendUvarint(nil, uint64(len(blob.Content))))
}

// Certificate returns the confirmed certificate of a block, or an error of class
// base.ErrNotFound.
func (s *Storage) Certificate(ctx context.Context, hash base.Hash) (*protocol.Certificate, error) {
	v, err := s.encodedCertificate(ctx, hash)
	if err != nil {
		return nil, err
	}
	return decodeCertificate(hash, v)
}

// encodedCertificate returns the stored encoding of a block's confirmed certificate, or
// an error of class base.ErrNotFound.
func (s *Storage) encodedCertificate(ctx context.Context, hash base.Hash) ([]byte, error) {
	v, ok, err := s.db.Get(ctx, certKey(hash))
	if err != nil {
		return nil, fmt.Errorf("read certificate %s: %w", hash.Short(), err)
	}
	if !ok {
		return nil, base.NotFoundf("certificate %s not found", hash.Short())
	}
	return v, nil
}

func decodeCertificate(hash base.Hash, v []byte) (*protocol.Certificate, error) {
	var c protocol.Certificate
	if err := codec.Unmarshal(v, &c); err != nil {
		return nil, base.Corruptf("stored certificate %s: %v", hash.Short(), err)
	}
	return &c, nil
}

// HasCertificate reports whether a confirmed certificate is stored.
func (s *Storage) HasCertificate(ctx context.Context, hash base.Hash) (bool, error) {
	_, ok, err := s.db.Get(ctx, certKey(hash))
	return ok, err
}

// BlockHash returns the hash of the confirmed block at (chain, height).
func (s *Storage) BlockHash(ctx context.Context, id base.ChainID, h base.BlockHeight) (base.Hash, error) {
	v, ok, err := s.db.Get(ctx, heightKey(id, h))
	if err != nil {
		return base.Hash{}, err
	}
	if !ok {
		return base.Hash{}, base.NotFoundf("no confirmed block at height %d of chain %s", h, id.Short())
	}
	if len(v) != base.HashSize {
		return base.Hash{}, base.Corruptf("height index of chain %s at %d", id.Short(), h)
	}
	return base.Hash(v), nil
}

// CertificateAt returns the confirmed certificate at (chain, height).
func (s *Storage) CertificateAt(ctx context.Context, id base.ChainID, h base.BlockHeight) (*protocol.Certificate, error) {
	hash, err := s.BlockHash(ctx, id, h)
	if err != nil {
		return nil, err
	}
	return s.Certificate(ctx, hash)
}

// Certificates returns the confirmed certificates of a chain for heights in [from, to),
// stopping at the first missing height.
func (s *Storage) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	var out []*protocol.Certificate
	err := s.ForEachCertificate(ctx, id, from, to, func(c *protocol.Certificate) bool {
		out = append(out, c)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ForEachCertificate calls fn with the confirmed certificates of a chain for heights in
// [from, to) in order, reading each only when fn has taken the one before; it stops at
// the first missing height or when fn returns false.
func (s *Storage) ForEachCertificate(ctx context.Context, id base.ChainID, from, to base.BlockHeight, fn func(c *protocol.Certificate) bool) error {
	return s.forEachEncoded(ctx, id, from, to, false, func(hash base.Hash, v []byte) (bool, error) {
		c, err := decodeCertificate(hash, v)
		if err != nil {
			return false, err
		}
		return fn(c), nil
	})
}

// ForEachEncodedCertificate is ForEachCertificate with each certificate's stored
// encoding instead of the certificate: the canonical bytes it was stored as
// (PutEncodedCertificate stores only canonical encodings), for an answer that sends
// them as they are. They are not decoded: the store is trusted local data, and a
// client decodes and verifies what it downloads. fn owns the bytes.
func (s *Storage) ForEachEncodedCertificate(ctx context.Context, id base.ChainID, from, to base.BlockHeight, fn func(encoded []byte) bool) error {
	return s.forEachEncoded(ctx, id, from, to, false, func(hash base.Hash, v []byte) (bool, error) {
		return fn(v), nil
	})
}

// EncodedCertificate returns the stored encoding of a block's confirmed certificate
// (ForEachEncodedCertificate), or an error of class base.ErrNotFound. The caller owns
// the bytes.
func (s *Storage) EncodedCertificate(ctx context.Context, hash base.Hash) ([]byte, error) {
	return s.encodedCertificate(ctx, hash)
}

// CertificatesWithin is Certificates bounded like an answer: at most maxCount
// certificates and maxBytes of their encodings, or the first alone if it is larger; it
// also returns the size of the encodings it answers. Each is read only when the ones
// before were taken, and the one that does not fit is read but not decoded, so the work
// follows the answer's bounds, not the range's length.
func (s *Storage) CertificatesWithin(ctx context.Context, id base.ChainID, from, to base.BlockHeight, maxCount, maxBytes int) ([]*protocol.Certificate, int, error) {
	return s.certificatesWithin(ctx, id, from, to, false, maxCount, maxBytes)
}

// LatestCertificatesWithin is CertificatesWithin from the end of the range: the
// certificates of heights to-1, to-2, … down to from (newest first), stopping at the
// first missing height.
func (s *Storage) LatestCertificatesWithin(ctx context.Context, id base.ChainID, from, to base.BlockHeight, maxCount, maxBytes int) ([]*protocol.Certificate, int, error) {
	return s.certificatesWithin(ctx, id, from, to, true, maxCount, maxBytes)
}

func (s *Storage) certificatesWithin(ctx context.Context, id base.ChainID, from, to base.BlockHeight, desc bool, maxCount, maxBytes int) ([]*protocol.Certificate, int, error) {
	var out []*protocol.Certificate
	size := 0
	err := s.forEachEncoded(ctx, id, from, to, desc, func(hash base.Hash, v []byte) (bool, error) {
		if len(out) >= maxCount || (len(out) > 0 && size+len(v) > maxBytes) {
			return false, nil
		}
		c, err := decodeCertificate(hash, v)
		if err != nil {
			return false, err
		}
		size += len(v)
		out = append(out, c)
		return true, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, size, nil
}

// forEachEncoded calls fn with the block hash and stored encoding of the confirmed
// certificates of a chain for heights in [from, to) in order (from to-1 down if desc),
// reading each only when fn has taken the one before; it stops at the first missing
// height, when fn returns false or an error (which it returns).
func (s *Storage) forEachEncoded(ctx context.Context, id base.ChainID, from, to base.BlockHeight, desc bool, fn func(hash base.Hash, v []byte) (bool, error)) error {
	for i := from; i < to; i++ {
		h := i
		if desc {
			h = to - 1 - (i - from)
		}
		hash, err := s.BlockHash(ctx, id, h)
		if base.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := s.encodedCertificate(ctx, hash)
		if base.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if more, err := fn(hash, v); !more || err != nil {
			return err
		}
	}
	return nil
}

// Blob returns a confirmed blob, or an error of class base.ErrNotFound. Pending blobs
// are not returned (see PendingBlob).
func (s *Storage) Blob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	v, ok, err := s.db.Get(ctx, blobKey(id))
	if err != nil {
		return protocol.Blob{}, fmt.Errorf("read blob %s: %w", id, err)
	}
	if !ok {
		return protocol.Blob{}, base.NotFoundf("blob %s not found", id)
	}
	s.known.Add(id)
	return protocol.NewBlob(id.Type, v), nil
}

// BlobSize returns the size of a confirmed blob's content without reading the content
// (up to 32 MiB for bytecode): from the size PutBlob records with it. A blob stored
// before sizes were recorded (stores written before 2026-12-07) is read whole once per
// call. A blob not confirmed is an error of class base.ErrNotFound.
func (s *Storage) BlobSize(ctx context.Context, id base.BlobID) (int, error) {
	v, ok, err := s.db.Get(ctx, blobSizeKey(id))
	if err != nil {
		return 0, fmt.Errorf("read blob size %s: %w", id, err)
	}
	if ok {
		n, k := binary.Uvarint(v)
		if k <= 0 || k != len(v) || n > 1<<40 {
			return 0, base.Corruptf("size of blob %s: %x", id, v)
		}
		return int(n), nil
	}
	b, err := s.Blob(ctx, id)
	if err != nil {
		return 0, err
	}
	return len(b.Content), nil
}

// HasBlob reports whether a blob is confirmed, without returning its content. Confirmed
// blobs are never removed, so a blob once found is remembered (a bounded set) and not
// read again: executing an application operation checks its bytecode blobs (megabytes)
// on every call.
func (s *Storage) HasBlob(ctx context.Context, id base.BlobID) (bool, error) {
	if s.known.Has(id) {
		return true, nil
	}
	_, ok, err := s.db.Get(ctx, blobKey(id))
	if err != nil {
		return false, fmt.Errorf("read blob %s: %w", id, err)
	}
	if ok {
		s.known.Add(id)
	}
	return ok, nil
}

// maxKnownBlobs bounds the set of blob ids HasBlob remembers.
const maxKnownBlobs = 4096

// MissingBlobs returns the ids among ids that are not confirmed.
func (s *Storage) MissingBlobs(ctx context.Context, ids []base.BlobID) ([]base.BlobID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = blobKey(id)
	}
	vals, err := s.db.MultiGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	var missing []base.BlobID
	for i, v := range vals {
		if v == nil {
			missing = append(missing, ids[i])
		}
	}
	return missing, nil
}

// Event returns the value of an event, or an error of class base.ErrNotFound.
func (s *Storage) Event(ctx context.Context, id protocol.EventID) ([]byte, error) {
	v, ok, err := s.db.Get(ctx, eventKey(&id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, base.NotFoundf("event %d of a stream of chain %s not found", id.Index, id.Chain.Short())
	}
	return v, nil
}

// ReadBlob and ReadEvent make Storage an execution.Resolver.
func (s *Storage) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	return s.Blob(ctx, id)
}

func (s *Storage) ReadEvent(ctx context.Context, id protocol.EventID) ([]byte, error) {
	return s.Event(ctx, id)
}

// Genesis returns the stored genesis configuration, or base.ErrNotFound.
func (s *Storage) Genesis(ctx context.Context) (*protocol.GenesisConfig, error) {
	v, ok, err := s.db.Get(ctx, []byte{prefixGenesis})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, base.NotFoundf("no genesis configuration stored")
	}
	var g protocol.GenesisConfig
	if err := codec.Unmarshal(v, &g); err != nil {
		return nil, base.Corruptf("stored genesis: %v", err)
	}
	return &g, nil
}

// PutGenesis adds the genesis configuration, the committee blob and the root chains'
// description blobs to b. Chain states are created lazily from their description blobs.
func PutGenesis(b *kv.Batch, g *protocol.GenesisConfig) {
	b.Put([]byte{prefixGenesis}, codec.Marshal(g))
	cb := g.Committee.Blob()
	PutBlob(b, &cb)
	for _, d := range g.Descriptions() {
		blob := d.Blob()
		PutBlob(b, &blob)
	}
}

// ChainContext returns the views context of a chain's state.
func (s *Storage) ChainContext(id base.ChainID) views.Context {
	return views.NewContext(s.db, ChainPrefix(id))
}

const prefixDelivery = 'P' // P sender recipient : outbox with undelivered bundles

func deliveryKey(sender, recipient base.ChainID) []byte {
	k := append([]byte{prefixDelivery}, sender[:]...)
	return append(k, recipient[:]...)
}

// PutPendingDelivery records that sender has bundles for recipient (with the block that
// sends them), so that a restarted worker resumes the delivery.
func PutPendingDelivery(b *kv.Batch, sender, recipient base.ChainID) {
	b.Put(deliveryKey(sender, recipient), []byte{})
}

// DeletePendingDelivery records that every bundle from sender reached recipient.
func DeletePendingDelivery(b *kv.Batch, sender, recipient base.ChainID) {
	b.Delete(deliveryKey(sender, recipient))
}

// PendingDeliveries calls fn for every recorded (sender, recipient) pair.
func (s *Storage) PendingDeliveries(ctx context.Context, fn func(sender, recipient base.ChainID) error) error {
	return s.db.Scan(ctx, []byte{prefixDelivery}, func(k, _ []byte) error {
		if len(k) != 1+2*base.HashSize {
			return base.Corruptf("pending delivery key of %d bytes", len(k))
		}
		var sender, recipient base.ChainID
		copy(sender[:], k[1:33])
		copy(recipient[:], k[33:])
		return fn(sender, recipient)
	})
}
