// Package natstest runs an in-process NATS server with JetStream for
// tests: on a random port of the loopback and in a temporary directory,
// and able to stop and start again on the same port and directory (a
// server going away and coming back).
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a NATS server started by Start; the test's cleanup stops it.
type Server struct {
	t          testing.TB
	name       string
	dir        string
	port       int
	syncAlways bool
	srv        *server.Server
}

// Start starts a server named name. syncAlways makes JetStream sync
// every write to disk, for tests whose servers must lose nothing across a
// stop.
func Start(t testing.TB, name string, syncAlways bool) *Server {
	t.Helper()
	n := &Server{t: t, name: name, dir: t.TempDir(), port: server.RANDOM_PORT, syncAlways: syncAlways}
	n.Start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.Stop)
	return n
}

// Start starts the server again after Stop, on the same port and
// directory.
func (n *Server) Start() {
	n.t.Helper()
	srv, err := server.NewServer(&server.Options{
		ServerName: n.name, Host: "127.0.0.1", Port: n.port,
		JetStream: true, StoreDir: n.dir, SyncAlways: n.syncAlways, NoLog: true, NoSigs: true,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		n.t.Fatal("NATS server not ready")
	}
	n.srv = srv
}

// Stop shuts the server down and waits for it; a stopped server stays
// stopped.
func (n *Server) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// Restart stops the server and starts it again.
func (n *Server) Restart() {
	n.t.Helper()
	n.Stop()
	n.Start()
}

// Dir is the server's JetStream store directory.
func (n *Server) Dir() string { return n.dir }

// URL is the server's client URL.
func (n *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }
