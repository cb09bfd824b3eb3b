//go:build !linux

package audit

// exchangeDirs swaps two directories in one step where the system can;
// here it cannot.
func exchangeDirs(a, b string) error { return errNoExchange }
