package dubbo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/govoy/govoy/filters/rpc/codec"
)

func writeSeeds(t *testing.T, s map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range s {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		corpus := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name[:len(name)-4]), []byte(corpus), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := Codec{}.Decode(b, codec.FromDownstream, 1<<16)
		if err != nil {
			if !errors.Is(err, codec.ErrMalformed) && !errors.Is(err, codec.ErrFrameTooLarge) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if fr == nil {
			if n != 0 {
				t.Fatalf("no frame but n=%d", n)
			}
			return
		}
		if n < headerLen || n > len(b) {
			t.Fatalf("n=%d of %d", n, len(b))
		}
		_ = fr.Route()
		_, _, _, _ = fr.Kind(), fr.Status(), fr.IsHeartbeat(), fr.(*Frame).IsGoAway()
		out, err := fr.AppendWire(nil)
		if err != nil || !bytes.Equal(out, b[:n]) {
			t.Fatalf("unchanged frame re-encoded differently: %v", err)
		}
		if fr.Kind() == codec.KindRequest {
			if _, err := (Codec{}).Hijack(fr, codec.StatusServerError, "x"); err != nil {
				t.Fatalf("hijack: %v", err)
			}
		}
		if fr.Err() == nil && fr.Kind() != codec.KindResponse && !fr.(*Frame).IsEvent() {
			fr.Headers().Set("x-fuzz", "1")
			out, err := fr.AppendWire(nil)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			g, _, err := Codec{}.Decode(out, codec.FromDownstream, 1<<20)
			if err != nil || g == nil || g.Err() != nil {
				t.Fatalf("re-encoded frame does not decode: %v", err)
			}
			if v, _ := g.Headers().Get("x-fuzz"); v != "1" || g.Route() != fr.Route() {
				t.Fatalf("re-encoded frame lost fields: %q %+v", v, g.Route())
			}
		}
	})
}
