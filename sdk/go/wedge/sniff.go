package wedge

import "net/http"

// detectContentType is http.DetectContentType with a shortcut for the
// common answer: a body of printable text that no signature can match is
// "text/plain; charset=utf-8". DetectContentType tries some forty
// signatures first, which costs a wasm guest several microseconds a
// response. FuzzDetectContentType holds the shortcut to DetectContentType.
func detectContentType(data []byte) string {
	const textPlain = "text/plain; charset=utf-8"
	if len(data) > 512 {
		data = data[:512] // what DetectContentType considers
	}
	if len(data) == 0 || !sniffFirstOK[data[0]] {
		return http.DetectContentType(data)
	}
	first := 0
	for first < len(data) && sniffWS[data[first]] {
		first++
	}
	switch {
	case first < len(data) && data[first] == '<': // HTML, XML
		return http.DetectContentType(data)
	case len(data) >= 36 && data[34] == 'L' && data[35] == 'P': // EOT
		return http.DetectContentType(data)
	case len(data) >= 8 && string(data[4:8]) == "ftyp": // MP4
		return http.DetectContentType(data)
	}
	for _, b := range data[first:] {
		if sniffBinary[b] {
			return http.DetectContentType(data)
		}
	}
	return textPlain
}

var sniffFirstOK, sniffWS, sniffBinary = func() (first, ws, binary [256]bool) {
	for _, b := range []byte("\t\n\x0c\r ") {
		ws[b] = true
	}
	for b := 0; b < 256; b++ {
		// As net/http/sniff.go's textSig.
		binary[b] = b <= 0x08 || b == 0x0B || 0x0E <= b && b <= 0x1A || 0x1C <= b && b <= 0x1F
	}
	// A first byte that starts no signature anchored at the start of the
	// body: letters and digits but those of BM, GIF8, RIFF, FORM, ID3,
	// OggS, MThd, OTTO, ttcf, wOFF, PK and Rar!, and whitespace.
	for b := '0'; b <= '9'; b++ {
		first[b] = true
	}
	for b := 'a'; b <= 'z'; b++ {
		first[b] = true
	}
	for b := 'A'; b <= 'Z'; b++ {
		first[b] = true
	}
	for _, b := range []byte("BGRFIOMtwP") {
		first[b] = false
	}
	for _, b := range []byte("\t\n\x0c\r ") {
		first[b] = true
	}
	return first, ws, binary
}()
