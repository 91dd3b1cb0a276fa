package api

// ValidName reports whether s can name a tenant or a worker: a DNS label of
// 1 to 63 lower-case letters, digits and hyphens that starts with a letter
// and does not end with a hyphen, so that W.T.zone is a valid hostname.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
