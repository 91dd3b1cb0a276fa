package api

import (
	"errors"
	"net/http"
)

// Code is a Wedge-Error code: the value of the Wedge-Error response header
// when Wedge, not the worker, answers a request, and the code of an API error.
type Code string

// The codes of the contract. Each maps to one HTTP status (see Code.Status).
const (
	CodeNoRoute      Code = "no-route"
	CodeWorkerTrap   Code = "worker-trap"
	CodeCPULimit     Code = "cpu-limit"
	CodeWallTime     Code = "wall-time"
	CodeMemoryLimit  Code = "memory-limit"
	CodeOverloaded   Code = "overloaded"
	CodeRateLimited  Code = "rate-limited"
	CodeBodyTooLarge Code = "body-too-large"
	CodeBadRequest   Code = "bad-request"
	// CodeTooEarly: a request that came in HTTP/3 0-RTT data and may not
	// (only GET and HEAD without a body may).
	CodeTooEarly Code = "too-early"

	// Control-plane codes.
	CodeUnauthorized  Code = "unauthorized"
	CodeForbidden     Code = "forbidden"
	CodeNotFound      Code = "not-found"
	CodeConflict      Code = "conflict"
	CodeInvalidModule Code = "invalid-module"
	CodeInternal      Code = "internal"
	// CodeUnavailable: the shared store (NATS) cannot be reached; the
	// node serves its last known state and refuses changes.
	CodeUnavailable Code = "unavailable"
)

// HeaderError is the response header that carries a Code.
const HeaderError = "Wedge-Error"

// Status is the HTTP status for c.
func (c Code) Status() int {
	switch c {
	case CodeNoRoute, CodeNotFound:
		return http.StatusNotFound
	case CodeWorkerTrap, CodeInternal:
		return http.StatusInternalServerError
	case CodeCPULimit, CodeWallTime, CodeMemoryLimit, CodeOverloaded, CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeBadRequest, CodeInvalidModule:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeConflict:
		return http.StatusConflict
	case CodeTooEarly:
		return http.StatusTooEarly
	}
	return http.StatusInternalServerError
}

// Error is an error with a Code. Its Message is safe to show to the client:
// never put a guest's own output or a secret in it.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Err is the cause, kept for logs and errors.Is; it is not serialized.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, api.ErrWallTime) works on wrapped errors.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == ""
}

// Sentinels for errors.Is: they carry a Code and no message.
var (
	ErrNoRoute      = &Error{Code: CodeNoRoute}
	ErrWorkerTrap   = &Error{Code: CodeWorkerTrap}
	ErrCPULimit     = &Error{Code: CodeCPULimit}
	ErrWallTime     = &Error{Code: CodeWallTime}
	ErrMemoryLimit  = &Error{Code: CodeMemoryLimit}
	ErrOverloaded   = &Error{Code: CodeOverloaded}
	ErrRateLimited  = &Error{Code: CodeRateLimited}
	ErrBodyTooLarge = &Error{Code: CodeBodyTooLarge}
	ErrBadRequest   = &Error{Code: CodeBadRequest}
)

// NewError returns an *Error with code, message and cause.
func NewError(code Code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// CodeOf returns the Code of the first *Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorBody is the JSON body of every API error:
// {"error": {"code": "...", "message": "..."}}.
type ErrorBody struct {
	Error struct {
		Code    Code   `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
