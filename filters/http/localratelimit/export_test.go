package localratelimit

// SetClockForTest makes c the bucket clock of configs parsed from now on; the returned func restores.
func SetClockForTest(c Clock) func() {
	prev := clockOverride
	clockOverride = c
	return func() { clockOverride = prev }
}
