package wedge

import "errors"

// Errors to branch on with errors.Is.
var (
	// ErrNotFound: a cache entry (or a KV key) that is not there.
	// EdgeCache.Match returns it as it is on a miss.
	ErrNotFound = errors.New("wedge: not found")
	// ErrEgressDenied: the host's egress policy refused the address an
	// outbound request would go to (loopback, private, link-local and
	// other non-global addresses, unless the operator allows them). The
	// error's text names the address and why.
	ErrEgressDenied = errors.New("wedge: egress denied")
	// ErrLimit: a per-request limit was reached: the worker's
	// subrequests (outbound requests per request, 50 unless wedge.toml
	// says otherwise), or too many responses open at once.
	ErrLimit = errors.New("wedge: limit reached")
)

// hostError is a hostcall that failed: the ABI's code and the host's
// message (error_message).
type hostError struct {
	op   string
	code int32
	msg  string
}

func (e *hostError) Error() string {
	msg := e.msg
	if msg == "" {
		switch e.code {
		case codeBadState:
			msg = "invalid state"
		case codeInvalid:
			msg = "invalid argument"
		case codeTooLarge:
			msg = "too large"
		case codeDenied:
			msg = "egress denied"
		case codeLimit:
			msg = "limit reached"
		case codeNotFound:
			msg = "not found"
		case codeBadHandle:
			msg = "bad handle"
		default:
			msg = "i/o error"
		}
	}
	return "wedge: " + e.op + ": " + msg
}

// Is makes errors.Is(err, ErrEgressDenied) and the like hold.
func (e *hostError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.code == codeNotFound
	case ErrEgressDenied:
		return e.code == codeDenied
	case ErrLimit:
		return e.code == codeLimit
	}
	return false
}

// hostErr makes the error for a failed hostcall, with the host's message.
func hostErr(h host, op string, code int32) error {
	var small [256]byte
	buf := small[:]
	n := h.errorMessage(buf)
	if n > int32(len(buf)) && n <= 64<<10 {
		buf = make([]byte, n)
		n = h.errorMessage(buf)
	}
	msg := ""
	if n > 0 && int(n) <= len(buf) {
		msg = string(buf[:n])
	}
	return &hostError{op: op, code: code, msg: msg}
}
