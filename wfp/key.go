package wfp

import (
	"encoding/json"
	"fmt"
)

// Key is secret key material (an FWP_BYTE_BLOB holding a key). It never
// prints: String, GoString, fmt verbs and JSON all show only its length.
// Code that must transmit or store the bytes uses them explicitly as []byte.
type Key []byte

// String returns a redacted description such as "[16-byte key redacted]".
func (k Key) String() string {
	if len(k) == 0 {
		return "[no key]"
	}
	return fmt.Sprintf("[%d-byte key redacted]", len(k))
}

// GoString redacts like String.
func (k Key) GoString() string { return "wfp.Key" + k.String() }

// Format redacts for every fmt verb, including %x and %v.
func (k Key) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// MarshalJSON writes the redacted form, never the bytes.
func (k Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// Zero overwrites the key bytes with zeros.
func (k Key) Zero() { clear(k) }

// Clone returns a copy of the bytes in a new backing array (nil for empty).
func (k Key) Clone() Key {
	if len(k) == 0 {
		return nil
	}
	c := make(Key, len(k))
	copy(c, k)
	return c
}
