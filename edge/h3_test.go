package edge

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
)

// TestEarlyDataMethods: of the requests that came in 0-RTT data (the
// handshake not complete), only GET and HEAD without a body reach the
// handler, marked Early-Data: 1; the others get 425 Too Early.
func TestEarlyDataMethods(t *testing.T) {
	for _, c := range []struct {
		method   string
		body     string
		complete bool
		status   int
		early    string
	}{
		{"GET", "", false, 200, "1"},
		{"HEAD", "", false, 200, "1"},
		{"POST", "", false, 425, ""},
		{"PUT", "x", false, 425, ""},
		{"DELETE", "", false, 425, ""},
		{"OPTIONS", "", false, 425, ""},
		{"GET", "x", false, 425, ""},
		{"POST", "x", true, 200, ""},
		{"GET", "", true, 200, ""},
	} {
		r := httptest.NewRequest(c.method, "https://w.t.wedge.localhost/", strings.NewReader(c.body))
		r.TLS = &tls.ConnectionState{HandshakeComplete: c.complete}
		w := httptest.NewRecorder()
		var early string
		earlyData(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			early = r.Header.Get("Early-Data")
		})).ServeHTTP(w, r)
		if w.Code != c.status || early != c.early {
			t.Errorf("%s body %q handshake complete %v: %d, Early-Data %q; want %d, %q", c.method, c.body, c.complete, w.Code, early, c.status, c.early)
		}
		if w.Code == 425 && w.Header().Get("Wedge-Error") != string(api.CodeTooEarly) {
			t.Errorf("%s: 425 without Wedge-Error: too-early", c.method)
		}
	}
	// Plain HTTP: untouched.
	r := httptest.NewRequest("POST", "http://w.t.wedge.localhost/", strings.NewReader("x"))
	w := httptest.NewRecorder()
	earlyData(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("plain POST: %d", w.Code)
	}
}

// TestUDPBuffers: the socket gets the buffers QUIC wants where the process
// may go past the sysctl caps (root), and reports what it got.
func TestUDPBuffers(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rcv, snd := setUDPBuffers(c, udpBufferSize)
	if rcv <= 0 || snd <= 0 {
		t.Fatalf("buffers %d, %d: not read back", rcv, snd)
	}
	if os.Geteuid() == 0 && goruntime.GOOS == "linux" && (rcv < udpBufferSize || snd < udpBufferSize) {
		t.Errorf("as root: buffers %d KiB receive, %d KiB send; want %d KiB", rcv>>10, snd>>10, udpBufferSize>>10)
	}
	t.Logf("receive %d KiB, send %d KiB", rcv>>10, snd>>10)
}
