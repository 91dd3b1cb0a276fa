// Command h2base is the baseline for scripts/h2spec.sh: a stock net/http
// server over TLS (HTTP/2 by ALPN, Go's defaults throughout) answering
// what examples/hello answers, with a throwaway self-signed certificate.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/http"

	"github.com/wedgeworks/wedge/edge"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "listen address")
	flag.Parse()
	certs, err := edge.SelfSignedCerts("localhost", "") // only to make a certificate
	if err != nil {
		log.Fatal(err)
	}
	cert, _ := certs.GetCertificate(nil)
	srv := &http.Server{
		Addr:      *addr,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "Hello from %s\n", r.URL.Path)
		}),
	}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
