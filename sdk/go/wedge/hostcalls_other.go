//go:build !wasip1

package wedge

// noHost is the host outside WebAssembly (go vet, tests, documentation
// tools): every call fails.
type noHost struct{ unsupported }

func (noHost) requestHead([]byte) int32       { return codeBadState }
func (noHost) requestBodyRead([]byte) int32   { return codeBadState }
func (noHost) responseHead([]byte) int32      { return codeBadState }
func (noHost) responseBodyWrite([]byte) int32 { return codeBadState }
func (noHost) responseFlush() int32           { return codeBadState }

// defaultHost serves Fetch and Cache. Outside a Wedge host, they fail.
var defaultHost host = noHost{}
