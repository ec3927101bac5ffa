package sofahessian

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecode: the decoder never panics, stops at the end of the data and returns ErrMalformed for
// anything it refuses; what it accepts renders as JSON. Seeds: testdata/fuzz/FuzzDecode (the
// captured SofaRequest/SofaResponse contents and sofa-hessian's sample values).
func FuzzDecode(f *testing.F) {
	f.Add([]byte{'N'})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		for d.Remaining() > 0 {
			v, err := d.Decode()
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error without ErrMalformed: %v", err)
				}
				return
			}
			j, err := ToJSON(v)
			if err != nil {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatal(err)
				}
				continue
			}
			json.Marshal(j) // dates out of JSON's year range may fail; it must not panic
		}
		DecodeResponse(b)
		DecodeRequest(b)
	})
}
