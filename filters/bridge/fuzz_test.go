package bridge

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

// FuzzUpstreamResponse feeds arbitrary upstream bytes to a gateway exchange, Dubbo or Bolt, as the
// provider's answer: those bytes are the provider's to choose, and the gateway decodes their
// hessian payload in full. Whatever arrives, the exchange must not panic, must answer once the
// upstream has closed, and that answer must be an HTTP status with a JSON body.
func FuzzUpstreamResponse(f *testing.F) {
	start := func(p bridgepb.Config_Protocol) *Exchange {
		c, err := NewConfig(&bridgepb.Config{Protocol: p, PathTemplate: "/rpc/{service}/{method}"})
		if err != nil {
			f.Fatal(err)
		}
		_, ex := c.Start(Request{Path: "/rpc/org.example.S/m", Body: []byte(`{"args":[{"type":"String","value":"x"}]}`)})
		if ex.Refused() != nil {
			f.Fatal(ex.Refused().Message)
		}
		return ex
	}
	dubboEx, boltEx := start(bridgepb.Config_DUBBO), start(bridgepb.Config_BOLT)
	addUpstreamSeeds(f)
	f.Fuzz(func(t *testing.T, isBolt bool, data []byte) {
		ex := dubboEx
		if isBolt {
			ex = boltEx
		}
		withExchangeID(data, ex)
		ex.OnUpstream(data, false)
		r := ex.OnUpstream(data, true)
		if r == nil {
			t.Fatal("no answer after the upstream closed")
		}
		body := r.JSON() // may turn an unrepresentable value into a 502
		if r.Status < 200 || r.Status > 599 || r.Status != http.StatusOK && r.Error == "" {
			t.Fatalf("answer %+v", r)
		}
		if !json.Valid(body) {
			t.Fatalf("body %q is not JSON", body)
		}
	})
}

// withExchangeID writes ex's request id into the response header data starts with (Dubbo, Bolt
// v1 or v2), so the fuzzer's frames reach the payload decoders.
func withExchangeID(data []byte, ex *Exchange) {
	switch {
	case ex.proto == bridgepb.Config_DUBBO && len(data) >= 12:
		binary.BigEndian.PutUint64(data[4:12], ex.id)
	case ex.proto == bridgepb.Config_BOLT && len(data) >= 10 && data[0] == 2:
		binary.BigEndian.PutUint32(data[6:10], uint32(ex.id))
	case ex.proto == bridgepb.Config_BOLT && len(data) >= 9:
		binary.BigEndian.PutUint32(data[5:9], uint32(ex.id))
	}
}

// addUpstreamSeeds adds real answers: a SOFARPC 5.12 provider's captured Bolt responses, and Dubbo
// responses and errors as providers write them.
func addUpstreamSeeds(f *testing.F) {
	frames, err := filepath.Glob(filepath.Join("sofahessian", "testdata", "frames", "*.response.bin"))
	if err != nil || len(frames) == 0 {
		f.Fatalf("no captured Bolt responses: %v", err)
	}
	for _, name := range frames {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(true, b)
	}
	for _, b := range [][]byte{
		response(f, 1, dubbo.StatusOK, int32(respValue), map[any]any{"name": "n", "tags": []any{"a", int64(1), 1.5}}),
		response(f, 1, dubbo.StatusOK, int32(respValueWithAttachments), "hi", map[any]any{"dubbo": "2.0.2"}),
		response(f, 1, dubbo.StatusOK, int32(respNull)),
		response(f, 1, dubbo.StatusOK, int32(respException), map[any]any{"detailMessage": "boom"}),
		response(f, 1, dubbo.StatusServiceNotFound, "no provider"),
	} {
		f.Add(false, b)
	}
}
