package base

import (
	"errors"
	"fmt"
)

// Error classes. Every error that crosses a package boundary should match exactly one of
// these with errors.Is, so callers can decide what to do without parsing messages.
var (
	// ErrInvalid marks input from a client, a peer or an application that is refused: bad
	// bytes, bad signatures, wrong heights, overdrafts. The state is unchanged.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound marks a missing chain, certificate, blob or key.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt marks stored data that fails its own invariants; the affected chain must
	// stop being served.
	ErrCorrupt = errors.New("corrupted state")
	// ErrRetryable marks a transient condition (a missing dependency that may arrive, a
	// closed connection); the same request may succeed later.
	ErrRetryable = errors.New("retryable")
)

// Invalidf returns an error of class ErrInvalid with a formatted reason.
func Invalidf(format string, args ...any) error {
	return &classError{class: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// NotFoundf returns an error of class ErrNotFound with a formatted reason.
func NotFoundf(format string, args ...any) error {
	return &classError{class: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}

// Corruptf returns an error of class ErrCorrupt with a formatted reason.
func Corruptf(format string, args ...any) error {
	return &classError{class: ErrCorrupt, msg: fmt.Sprintf(format, args...)}
}

type classError struct {
	class error
	msg   string
}

func (e *classError) Error() string        { return e.msg }
func (e *classError) Is(target error) bool { return target == e.class }

// IsNotFound reports whether err is of class ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsInvalid reports whether err is of class ErrInvalid.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }
