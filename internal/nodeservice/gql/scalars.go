package gql

import (
	"encoding/json"
	"errors"
	"io"
)

// JSON is the schema's JSON scalar: any JSON value, kept as its encoded bytes. A nil
// JSON is GraphQL null.
type JSON json.RawMessage

// MarshalGQL writes the value as it is.
func (j JSON) MarshalGQL(w io.Writer) {
	if len(j) == 0 {
		_, _ = io.WriteString(w, "null")
		return
	}
	_, _ = w.Write(j)
}

// UnmarshalGQL takes any input value (a GraphQL literal or a variable) and keeps its JSON
// encoding.
func (j *JSON) UnmarshalGQL(v any) error {
	if v == nil {
		*j = nil
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return errors.New("JSON: the value cannot be encoded as JSON")
	}
	*j = b
	return nil
}

// MarshalJSON writes the value as it is (null for nil), so that encoding/json renders
// the schema's models as GraphQL does (the CLI's --json).
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	if !json.Valid(j) {
		return nil, errors.New("JSON: the value is not valid JSON")
	}
	return j, nil
}
