package runtime

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

func leb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// section encodes a section with its real size.
func section(id byte, content ...[]byte) []byte {
	c := bytes.Join(content, nil)
	return append(append([]byte{id}, leb(uint32(len(c)))...), c...)
}

func module(sections ...[]byte) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Join(sections, nil)...)
}

// body encodes a function body with its real size.
func body(content ...[]byte) []byte {
	c := bytes.Join(content, nil)
	return append(leb(uint32(len(c))), c...)
}

func str(s string) []byte { return append(leb(uint32(len(s))), s...) }

func TestCheckBinaryAccepts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no modules in testdata: %v", err)
	}
	mods := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mods[filepath.Base(f)] = b
	}
	if !testing.Short() {
		mods["examples/hello"] = testwasm.Build(t, "examples/hello")
	}
	// Modules the runtime reports on itself.
	mods["not wasm"] = []byte("hello")
	mods["empty"] = nil
	mods["header only"] = module()
	mods["wrong version"] = []byte("\x00asm\x02\x00\x00\x00\x07\xff\xff\xff\xff\x0f")
	mods["a large but honest data segment"] = module(
		section(5, []byte{1, 0, 1}),
		section(11, leb(1), []byte{0, 0x41, 0, 0x0b}, leb(100000), make([]byte, 100000)))
	mods["50000 locals"] = module(section(10, leb(1), body(leb(1), leb(maxLocals), []byte{0x7f, 0x0b})))
	for name, b := range mods {
		t.Run(name, func(t *testing.T) {
			if err := checkBinary(b); err != nil {
				t.Errorf("checkBinary refuses it: %v", err)
			}
		})
	}
}

// TestCheckBinaryRejects: modules that claim more than they hold, each of
// which made wazero allocate gigabytes.
func TestCheckBinaryRejects(t *testing.T) {
	huge := leb(0xffffffff)
	for _, tc := range []struct {
		name string
		mod  []byte
	}{
		{"exports", module(section(7, huge))},
		{"export name", module(section(7, leb(1), huge))},
		{"imports", module(section(2, huge))},
		{"import module name", module(section(2, leb(1), huge, []byte("x")))},
		{"import name", module(section(2, leb(1), str("wedge_v1"), huge))},
		{"types", module(section(1, huge))},
		{"parameters", module(section(1, leb(1), []byte{0x60}, huge))},
		{"results", module(section(1, leb(1), []byte{0x60, 0}, huge))},
		{"rec group parameters", module(section(1, leb(1), []byte{0x4e, 1, 0x60}, huge))},
		{"functions", module(section(3, huge))},
		{"tables", module(section(4, huge))},
		{"globals", module(section(6, huge))},
		{"tags", module(section(13, huge))},
		{"element segments", module(section(9, huge))},
		{"element indices", module(section(9, leb(1), []byte{0, 0x41, 0, 0x0b}, huge))},
		{"element expressions", module(section(9, leb(1), []byte{5, 0x70}, huge))},
		{"function bodies", module(section(10, huge))},
		{"function body size", module(section(10, leb(1), huge))},
		{"locals", module(section(10, leb(1), body(leb(1), huge, []byte{0x7f, 0x0b})))},
		{"locals in two groups", module(section(10, leb(1), body(leb(2), leb(maxLocals), []byte{0x7f}, leb(1), []byte{0x7e, 0x0b})))},
		{"locals past the body", module(section(10, leb(1), body(leb(1), leb(1)), []byte{0x7f, 0x0b}))},
		{"data segments", module(section(11, huge))},
		{"data bytes", module(section(11, leb(1), []byte{0, 0x41, 0, 0x0b}, huge))},
		{"passive data bytes", module(section(11, leb(1), []byte{1}, huge))},
		{"section size", module([]byte{0}, huge, str("x"))},
		{"custom section name", module(section(0, huge))},
		{"module name", module(section(0, str("name"), []byte{0}, leb(5), huge))},
		{"function names", module(section(0, str("name"), []byte{1}, leb(5), huge))},
		{"local names", module(section(0, str("name"), []byte{2}, leb(5), leb(1), leb(0), huge))},
		{"unknown name subsection", module(section(0, str("name"), []byte{9}, huge))},
		{
			// wazero counts the name section down by the subsection's
			// declared size (0), not by what it read (a count of 0), so it
			// reads on into the next section: a count of 2^32-1.
			"names past the name section",
			module(section(0, str("name"), []byte{1, 0, 0}), []byte{1, 0}, huge),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBinary(tc.mod)
			if err == nil {
				t.Fatalf("checkBinary accepts % x", tc.mod)
			}
			if strings.Contains(err.Error(), "%!") {
				t.Errorf("badly formatted error: %v", err)
			}
		})
	}
}
