package events

// patternMatchers are hand-written matchers for the patterns the catalog's
// schemas use, which the schema fast path takes in place of the regexps;
// each is equivalent to regexp.MustCompile(pattern).Match (held
// to that by TestPatternMatchers and FuzzPatternMatchers). Every string of
// every event passes one or two of them, where the regexp engine cost a
// tenth of the decoding of a stored event.
var patternMatchers = map[string]func([]byte) bool{
	IDPattern:                                idShaped[[]byte],
	CPRPattern:                               cprShaped[[]byte],
	`(^|[^0-9])[0-9]{6}-?[0-9]{4}([^0-9]|$)`: containsCPR,
	`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`:           dateShaped[[]byte],
	`^[0-9]{8}$`:                             func(s []byte) bool { return len(s) == 8 && digits(s) },
	`^[a-z0-9][a-z0-9-]{0,63}$`: func(s []byte) bool {
		if len(s) == 0 || len(s) > 64 || s[0] == '-' {
			return false
		}
		for _, c := range s {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
		return true
	},
}

// dateShaped reports whether s has the shape YYYY-MM-DD (any digits).
func dateShaped[T string | []byte](s T) bool {
	return len(s) == 10 && digits(s[:4]) && s[4] == '-' && digits(s[5:7]) && s[7] == '-' && digits(s[8:])
}

// containsCPR reports whether s holds a CPR-shaped number: a run of
// exactly ten digits, or one of exactly six, a dash, and one of exactly
// four.
func containsCPR(s []byte) bool {
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		switch j - i {
		case 10:
			return true
		case 6:
			if j+1 < len(s) && s[j] == '-' {
				k := j + 1
				for k < len(s) && '0' <= s[k] && s[k] <= '9' {
					k++
				}
				if k-(j+1) == 4 {
					return true
				}
			}
		}
		i = j
	}
	return false
}
