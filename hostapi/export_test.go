package hostapi

// DecodeResponseHead exports decodeResponseHead to the fuzz tests.
var DecodeResponseHead = decodeResponseHead
