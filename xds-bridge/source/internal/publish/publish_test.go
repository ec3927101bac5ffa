package publish

import (
	"testing"

	"github.com/govoy/govoy/xds-bridge/internal/testenv"
	"github.com/govoy/govoy/xds-bridge/model"
)

func TestUpdateSendsOnlyDifferences(t *testing.T) {
	sink := testenv.NewRecordingSink()
	p := New("s", sink)
	a := model.Service{Name: "a", Protocol: model.ProtocolHTTP, Methods: []string{"y", "x", "x"}, Endpoints: []model.Endpoint{
		{Address: "127.0.0.3", Port: 1, Metadata: map[string]string{}}, {Address: "127.0.0.2", Port: 1},
	}}
	b := model.Service{Name: "b", Protocol: model.ProtocolGRPC}
	if n := p.Update([]model.Service{a, b}); n != 1 || sink.Calls()[0].Kind != "replace" {
		t.Fatalf("first Update must Replace: %v", sink.Calls())
	}
	got := sink.State()["a"]
	if got.Endpoints[0].Address != "127.0.0.2" || got.Endpoints[1].Metadata != nil || len(got.Methods) != 2 {
		t.Fatalf("not canonical: %+v", got)
	}
	// Same world in another order: nothing to send.
	a2 := a
	a2.Endpoints = []model.Endpoint{a.Endpoints[1], a.Endpoints[0]}
	a2.Methods = []string{"x", "y"}
	if n := p.Update([]model.Service{b, a2}); n != 0 {
		t.Fatalf("reordered world sent %d calls", n)
	}
	// One endpoint's weight changes, b goes, c comes.
	a3 := a
	a3.Endpoints = []model.Endpoint{{Address: "127.0.0.2", Port: 1, Weight: 5}, {Address: "127.0.0.3", Port: 1}}
	c := model.Service{Name: "c"}
	if n := p.Update([]model.Service{a3, c}); n != 3 {
		t.Fatalf("want upsert a, upsert c, delete b; got %d: %v", n, sink.Calls())
	}
	st := sink.State()
	if _, ok := st["b"]; ok || st["a"].Endpoints[0].Weight != 5 {
		t.Fatalf("state %+v", st)
	}
	if SortedUnique([]string{"a", "a"})[0] != "a" || len(SortedUnique([]string{"b", "a", "a"})) != 2 {
		t.Fatal("SortedUnique")
	}
}
