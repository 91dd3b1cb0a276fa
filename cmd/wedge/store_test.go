package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/store"
)

func TestSecretKeyFromEnv(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	ff := bytes.Repeat([]byte{0xff}, 32) // '_' in base64url
	for _, tt := range []struct {
		name, value string
		want        []byte
		err         bool
	}{
		{"unset", "", nil, false},
		{"hex", strings.Repeat("ab", 32), key, false},
		{"hex, upper case, with a newline", strings.Repeat("AB", 32) + "\n", key, false},
		{"base64", base64.StdEncoding.EncodeToString(key), key, false},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(key), key, false},
		{"base64url", base64.RawURLEncoding.EncodeToString(ff), ff, false},
		{"too short", strings.Repeat("ab", 16), nil, true},
		{"not an encoding", "correct horse battery staple", nil, true},
	} {
		got, err := secretKeyFromEnv(func(k string) string {
			if k != secretKeyEnv {
				t.Fatalf("read %s", k)
			}
			return tt.value
		})
		switch {
		case tt.err && err == nil:
			t.Errorf("%s: key %x, want an error", tt.name, got)
		case !tt.err && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != nil && !bytes.Equal(got, tt.want):
			t.Errorf("%s: key %x, want %x", tt.name, got, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), tt.value) {
			t.Errorf("%s: the error quotes the value", tt.name)
		}
	}
}

func TestOpenStore(t *testing.T) {
	s, err := openStore(t.TempDir(), "", nil, "n", nil)
	if err != nil {
		t.Fatalf("embedded: %v", err)
	}
	if _, ok := s.(*store.Bolt); !ok {
		t.Errorf("openStore with no URL = %T, want the embedded store", s)
	}
	s.Close()

	key := bytes.Repeat([]byte{1}, 32)
	for _, tt := range []struct {
		url  string
		key  []byte
		want string
	}{
		{"http://127.0.0.1:4222", key, "want nats://"},
		{"127.0.0.1:4222", key, "want nats://"},
		{"nats://", key, "want nats://"},
		{"nats://a:4222,redis://b", key, "want nats://"},
		{"nats://user:hunter2@127.0.0.1:4222", nil, secretKeyEnv},
	} {
		_, err := openStore(t.TempDir(), tt.url, tt.key, "n", nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("openStore(%q): err = %v, want one mentioning %q", tt.url, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("openStore(%q): the error shows the password: %v", tt.url, err)
		}
	}
}

func TestResolveNodeID(t *testing.T) {
	dir := t.TempDir()
	first, err := resolveNodeID(dir, "")
	if err != nil || !validNodeID(first) {
		t.Fatalf("first start: %q, %v", first, err)
	}
	if again, err := resolveNodeID(dir, ""); err != nil || again != first {
		t.Errorf("second start: %q, %v; want the first start's %q", again, err, first)
	}
	if other, _ := resolveNodeID(t.TempDir(), ""); other == first {
		t.Errorf("two data directories share the node name %q", other)
	}
	for _, tt := range []struct {
		flag string
		ok   bool
	}{
		{"edge-1", true},
		{"edge-1.fra.example.net", true},
		{"Edge_2", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"with space", false},
		{"slash/no", false},
		{"nul\x00", false},
	} {
		got, err := resolveNodeID(dir, tt.flag)
		if tt.ok && (err != nil || got != tt.flag) {
			t.Errorf("--node-id %q: %q, %v", tt.flag, got, err)
		}
		if !tt.ok && err == nil {
			t.Errorf("--node-id %q: accepted", tt.flag)
		}
	}
}
