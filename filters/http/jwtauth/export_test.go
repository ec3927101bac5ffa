package jwtauth

import "time"

// SetNowForTest makes now the verification clock of configs parsed from now on; the returned func restores.
func SetNowForTest(now func() time.Time) func() {
	prev := nowOverride
	nowOverride = now
	return func() { nowOverride = prev }
}
