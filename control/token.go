package control

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// Token formats: "wo_<secret>" for the operator, "wt_<tenant>.<secret>" for
// a tenant. The tenant name in a tenant token only says where to look; the
// secret is what is checked.
const (
	operatorPrefix = "wo_"
	tenantPrefix   = "wt_"
)

// NewOperatorToken returns a new random operator token.
func NewOperatorToken() string { return operatorPrefix + secret() }

func newTenantToken(tenant string) string { return tenantPrefix + tenant + "." + secret() }

func secret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("control: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is how tokens are stored: their SHA-256. Tokens carry 256 random
// bits, so a fast hash is enough.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// tokenMatches compares a token with a stored hash in constant time.
func tokenMatches(token string, hash []byte) bool {
	valid := len(hash) == sha256.Size
	if !valid {
		hash = make([]byte, sha256.Size) // compare anyway: the same cost
	}
	return subtle.ConstantTimeCompare(HashToken(token), hash) == 1 && valid
}

// tokenTenant returns the tenant a tenant token claims to be for.
func tokenTenant(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, tenantPrefix)
	if !ok {
		return "", false
	}
	tenant, _, ok := strings.Cut(rest, ".")
	return tenant, ok && tenant != ""
}

// bearerToken returns the token of an Authorization header value of the
// form "Bearer TOKEN". The scheme is case-insensitive and may be followed
// by more than one space (RFC 9110, section 11.4); the token is taken as it
// is.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
