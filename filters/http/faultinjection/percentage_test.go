package faultinjection

import (
	"testing"

	"github.com/govoy/govoy/filters/http/faultinjection/faultpb"
	"github.com/govoy/govoy/filters/mockhost"
)

func TestPercentageToPPM(t *testing.T) {
	frac := func(n uint32, d faultpb.FractionalPercent_DenominatorType) *faultpb.Percentage {
		return &faultpb.Percentage{Value: &faultpb.Percentage_Fraction{Fraction: &faultpb.FractionalPercent{Numerator: n, Denominator: d}}}
	}
	cases := []struct {
		p    *faultpb.Percentage
		want fraction
	}{
		{&faultpb.Percentage{Value: &faultpb.Percentage_Percent{Percent: 0.5}}, fraction{5000, 100}},
		{&faultpb.Percentage{Value: &faultpb.Percentage_Percent{Percent: 100}}, fraction{million, 100}},
		{frac(5, faultpb.FractionalPercent_TEN_THOUSAND), fraction{500, 10000}},
		{frac(7, faultpb.FractionalPercent_MILLION), fraction{7, million}},
		{frac(30, faultpb.FractionalPercent_HUNDRED), fraction{300000, 100}},
	}
	for _, c := range cases {
		got, err := parsePercentage(c.p, "p")
		if err != nil || got != c.want {
			t.Errorf("%v: got %+v %v, want %+v", c.p, got, err, c.want)
		}
	}
	if _, err := parsePercentage(nil, "abort.percentage"); err == nil {
		t.Error("nil percentage accepted")
	}
	// A header may lower the configured share, never raise it.
	f := fraction{ppm: 300000, denom: 100}
	if got := f.withHeader(mockhost.NewRequestHeaders(map[string][]string{HeaderAbortPercentage: {"10"}}), HeaderAbortPercentage); got.ppm != 100000 {
		t.Errorf("lowered to %d", got.ppm)
	}
	if got := f.withHeader(mockhost.NewRequestHeaders(map[string][]string{HeaderAbortPercentage: {"90"}}), HeaderAbortPercentage); got.ppm != 300000 {
		t.Errorf("raised to %d", got.ppm)
	}
	if (fraction{ppm: 0}).sample() || !(fraction{ppm: million}).sample() {
		t.Error("0% sampled or 100% not sampled")
	}
}
