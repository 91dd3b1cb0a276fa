package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wedgeworks/wedge/edge"
)

// httpsListeners are the sockets and certificate of --https.
type httpsListeners struct {
	tcp   net.Listener
	udp   *net.UDPConn
	certs *edge.Certs
	hup   chan os.Signal // SIGHUP, with certificate files to reload
}

// listenHTTPS opens --https: a TCP listener and a UDP socket on the same
// port number (HTTP/3), and its certificate. Without --https it returns
// an empty httpsListeners.
func listenHTTPS(cfg serveConfig) (*httpsListeners, error) {
	l := &httpsListeners{}
	if cfg.httpsAddr == "" {
		return l, nil
	}
	var err error
	if cfg.tlsSelfSigned {
		l.certs, err = edge.SelfSignedCerts(cfg.zone, cfg.dataDir)
	} else {
		l.certs, err = edge.LoadCerts(cfg.tlsCert, cfg.tlsKey)
	}
	if err != nil {
		return nil, fmt.Errorf("--https certificate: %w", err)
	}
	leaf := l.certs.Leaf()
	attrs := []any{"sha256", l.certs.Fingerprint(), "names", leaf.DNSNames, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339)}
	if cfg.tlsSelfSigned {
		// The CA is what a client trusts: it covers W.T.ZONE as well.
		attrs = append(attrs, "self_signed", filepath.Join(cfg.dataDir, "tls", "self-signed.pem"), "ca", l.certs.CAFile())
	} else {
		attrs = append(attrs, "cert", cfg.tlsCert)
	}
	if time.Now().After(leaf.NotAfter) {
		cfg.log.Warn("TLS certificate has expired", attrs...)
	} else {
		cfg.log.Info("TLS certificate", attrs...)
	}
	l.tcp, err = net.Listen("tcp", cfg.httpsAddr)
	if err != nil {
		return nil, fmt.Errorf("edge listener (--https): %w", err)
	}
	// HTTP/3 on the address and port TCP got.
	ta := l.tcp.Addr().(*net.TCPAddr)
	l.udp, err = net.ListenUDP("udp", &net.UDPAddr{IP: ta.IP, Port: ta.Port, Zone: ta.Zone})
	if err != nil {
		l.tcp.Close()
		return nil, fmt.Errorf("HTTP/3 listener (--https, UDP): %w", err)
	}
	// Edge logs its own warning, with the sysctl to raise, when the kernel
	// caps QUIC's socket buffers: quic-go's would say it twice.
	if os.Getenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING") == "" {
		os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	}
	// From now on SIGHUP reloads the certificate instead of ending the
	// process.
	l.hup = make(chan os.Signal, 1)
	signal.Notify(l.hup, syscall.SIGHUP)
	return l, nil
}

// close closes what is still open.
func (l *httpsListeners) close() {
	if l.tcp != nil {
		l.tcp.Close()
	}
	if l.udp != nil {
		l.udp.Close()
	}
	if l.hup != nil {
		signal.Stop(l.hup)
	}
}

// reloadCerts reloads certs on SIGHUP (from hup) and when a file in the
// directories of its files changes (a renewal, a symlink swapped by a
// secret mount), until ctx is done. A failed reload keeps the certificate
// in use: the key and certificate of a renewal may land one after the
// other, and the second change reloads again.
func reloadCerts(ctx context.Context, certs *edge.Certs, hup <-chan os.Signal, log *slog.Logger) {
	certFile, keyFile := certs.Files()
	var changes <-chan fsnotify.Event
	var errs <-chan error
	if certFile == "" {
		// Self-signed: nothing to watch.
	} else if w, err := fsnotify.NewWatcher(); err != nil {
		log.Warn("cannot watch the TLS certificate files: reload with SIGHUP", "err", err)
	} else {
		defer w.Close()
		for _, dir := range []string{filepath.Dir(certFile), filepath.Dir(keyFile)} {
			if err := w.Add(dir); err != nil {
				log.Warn("cannot watch the TLS certificate files: reload with SIGHUP", "dir", dir, "err", err)
			}
		}
		changes, errs = w.Events, w.Errors
	}
	reload := func(trigger string) {
		if certFile == "" {
			log.Info("SIGHUP: the self-signed certificate has nothing to reload", "sha256", certs.Fingerprint())
			return
		}
		before := certs.Fingerprint()
		if err := certs.Reload(); err != nil {
			log.Warn("TLS certificate reload failed: still serving the previous one", "trigger", trigger, "err", err)
			return
		}
		if after := certs.Fingerprint(); after != before || trigger == "SIGHUP" {
			log.Info("TLS certificate reloaded", "trigger", trigger, "sha256", after, "not_after", certs.Leaf().NotAfter.UTC().Format(time.RFC3339))
		}
	}
	// Changes come in bursts (write, chmod, rename): reload once they settle.
	const settle = 200 * time.Millisecond
	timer := time.NewTimer(settle)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-hup:
			reload("SIGHUP")
		case ev := <-changes:
			if ev.Op != fsnotify.Chmod {
				timer.Reset(settle)
			}
		case err := <-errs:
			log.Warn("watching the TLS certificate files", "err", err)
		case <-timer.C:
			reload("file change")
		}
	}
}
