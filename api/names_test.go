package api_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wedgeworks/wedge/api"
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func TestValidEnvName(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"A", true}, {"_", true}, {"_1", true}, {"API_KEY", true}, {"lower", true}, {"a1B2", true},
		{strings.Repeat("A", api.MaxEnvNameBytes), true},
		{"", false}, {"1A", false}, {"A-B", false}, {"A B", false}, {"A=B", false}, {"A.B", false},
		{"É", false}, {"A\x00", false}, {"A\n", false}, {strings.Repeat("A", api.MaxEnvNameBytes+1), false},
	} {
		if got := api.ValidEnvName(tt.s); got != tt.want {
			t.Errorf("ValidEnvName(%.20q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestValidKVNamespace(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"COUNTS", true}, {"kv", true}, {"_", true}, {"A1", true}, {strings.Repeat("N", api.MaxKVNamespaceBytes), true},
		{"", false}, {"1NS", false}, {"a-b", false}, {"a/b", false}, {"a b", false},
		{strings.Repeat("N", api.MaxKVNamespaceBytes+1), false},
	} {
		if got := api.ValidKVNamespace(tt.s); got != tt.want {
			t.Errorf("ValidKVNamespace(%.20q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestCheckKVKey(t *testing.T) {
	for _, tt := range []struct {
		s   string
		err string // in the error; empty: valid
	}{
		{"k", ""}, {"a/b/c", ""}, {"/", ""}, {" ", ""}, {"é🔑", ""}, {"\x01\t\n", ""}, {"%00", ""},
		{strings.Repeat("k", api.MaxKVKeyBytes), ""},
		{strings.Repeat("é", api.MaxKVKeyBytes/2), ""},
		{"", "empty"},
		{strings.Repeat("k", api.MaxKVKeyBytes+1), "513 bytes"},
		{strings.Repeat("é", api.MaxKVKeyBytes/2) + "k", "513 bytes"},
		{"a\x00b", "NUL"},
		{"\x00", "NUL"},
		{"a\xffb", "UTF-8"},
		{"\xed\xa0\x80", "UTF-8"}, // a surrogate
	} {
		err := api.CheckKVKey(tt.s)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("CheckKVKey(%.20q) = %v, want nil", tt.s, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CheckKVKey(%.20q) = %v, want an error saying %q", tt.s, err, tt.err)
		}
	}
}

func TestCheckSecretValue(t *testing.T) {
	for _, tt := range []struct {
		v   string
		err string
	}{
		{"", ""}, {"s3cret", ""}, {"line\n", ""}, {"\xff\xfe", ""}, {strings.Repeat("v", api.MaxSecretBytes), ""},
		{"a\x00b", "NUL"},
		{strings.Repeat("v", api.MaxSecretBytes+1), "64 KiB"},
	} {
		err := api.CheckSecretValue([]byte(tt.v))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("CheckSecretValue(%.20q) = %v, want nil", tt.v, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CheckSecretValue(%.20q) = %v, want an error saying %q", tt.v, err, tt.err)
		}
	}
}

// FuzzNames checks the name and key validators against their definitions.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"A", "_", "1A", "a-b", "COUNTS", "", "a/b", "é", "\x00", "\xff", strings.Repeat("k", 513)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := api.ValidEnvName(s), identifier.MatchString(s) && len(s) <= api.MaxEnvNameBytes; got != want {
			t.Errorf("ValidEnvName(%q) = %v, want %v", s, got, want)
		}
		if got, want := api.ValidKVNamespace(s), identifier.MatchString(s) && len(s) <= api.MaxKVNamespaceBytes; got != want {
			t.Errorf("ValidKVNamespace(%q) = %v, want %v", s, got, want)
		}
		err := api.CheckKVKey(s)
		if want := s != "" && len(s) <= api.MaxKVKeyBytes && utf8.ValidString(s) && !strings.Contains(s, "\x00"); (err == nil) != want {
			t.Errorf("CheckKVKey(%q) = %v, want valid %v", s, err, want)
		}
		if err != nil && len(s) > 8 && strings.Contains(err.Error(), s) {
			t.Errorf("CheckKVKey's error quotes the key: %v", err)
		}
		err = api.CheckSecretValue([]byte(s))
		if want := len(s) <= api.MaxSecretBytes && !strings.Contains(s, "\x00"); (err == nil) != want {
			t.Errorf("CheckSecretValue(%q) = %v, want valid %v", s, err, want)
		}
		if err != nil && len(s) > 8 && strings.Contains(err.Error(), s) {
			t.Errorf("CheckSecretValue's error quotes the value: %v", err)
		}
	})
}
