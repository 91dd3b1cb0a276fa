package wasmbin

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// immLen returns how many immediate bytes the scanner takes after the opcode
// op (prefix and sub-opcode included) when the immediates are zero bytes
// (0x70 for ref.null), and whether it knows the opcode at all.
func immLen(t *testing.T, op []byte) (int, bool) {
	t.Helper()
	imm := make([]byte, 17)
	if bytes.Equal(op, []byte{0xd0}) {
		imm[0] = funcref
	}
	for n := 0; n < len(imm); n++ {
		body := append(append(append([]byte{0}, op...), imm[:n]...), 0x0b)
		info, err := Parse(codeModule(body...))
		if err != nil {
			continue // too few bytes: the end was taken as an immediate
		}
		if strings.Contains(info.NotResettable, "unknown") {
			return 0, false
		}
		return n, true
	}
	t.Fatalf("opcode % x: no immediate length up to %d bytes decodes", op, len(imm))
	return 0, false
}

// wabtModule returns a module with a table, a shared memory, an element and
// a data segment, so that wabt's reader accepts every instruction's indices,
// and one function with the given body.
func wabtModule(body []byte) []byte {
	return module(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(secFunction, vec([]byte{0})...),
		sec(secTable, vec([]byte{funcref, 0, 1})...),
		sec(secMemory, vec([]byte{3, 1, 1})...),
		sec(secElement, vec([]byte{1, 0, 0})...),
		sec(secDataCount, 1),
		sec(secCode, vec(cat(appendU32(nil, uint32(len(body))), body))...),
		sec(secData, vec([]byte{1, 0})...),
	)
}

// wasm2wat disassembles wasm with every feature enabled and no validation,
// and returns the function body's lines.
func wasm2wat(t *testing.T, tool string, wasm []byte) ([]string, error) {
	f := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(f, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "--enable-all", "--no-check", f).CombinedOutput()
	if err != nil {
		return nil, err
	}
	var lines []string
	in := false
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "  (func "):
			in = true
		case in && strings.HasPrefix(l, "    "):
			lines = append(lines, strings.TrimSpace(l))
		default:
			in = false
		}
	}
	return lines, nil
}

// TestScanAgreesWithWabt checks the scanner's opcode tables against wabt's
// binary reader: every opcode the scanner knows (one-byte ones and every
// 0xFC, 0xFD and 0xFE sub-opcode up to 300) is decoded by wabt with the same
// immediates, and the unassigned ones between them are rejected by wabt too.
func TestScanAgreesWithWabt(t *testing.T) {
	tool, err := exec.LookPath("wasm2wat")
	if err != nil {
		t.Skip("wasm2wat (wabt) not installed")
	}
	var body []byte
	var known int
	var unknown [][]byte
	add := func(op []byte) {
		n, ok := immLen(t, op)
		if !ok {
			unknown = append(unknown, op)
			return
		}
		body = append(body, op...)
		if bytes.Equal(op, []byte{0xd0}) {
			body = append(body, funcref)
			n--
		}
		body = append(body, make([]byte, n)...)
		known++
	}
	for op := 0; op < 0xfc; op++ {
		switch op {
		case 0x02, 0x03, 0x04, 0x05, 0x0b: // block structure, checked by TestScan
			continue
		}
		add([]byte{byte(op)})
	}
	for _, prefix := range []byte{0xfc, 0xfd, 0xfe} {
		for sub := uint32(0); sub <= 300; sub++ {
			add(appendU32([]byte{prefix}, sub))
		}
	}
	body = append([]byte{0}, append(body, 0x0b)...)
	lines, err := wasm2wat(t, tool, wabtModule(body))
	if err != nil {
		t.Fatalf("wabt rejects the instructions the scanner knows: %v", err)
	}
	if len(lines) != known {
		t.Fatalf("wabt decodes %d instructions where the scanner sees %d", len(lines), known)
	}
	t.Logf("%d instructions decoded alike", known)

	// The scanner's unknown opcodes: those that wabt knows are features the
	// scanner leaves out on purpose (exception handling, typed function
	// references, GC); among the prefixed ones, wabt must reject each.
	for _, op := range unknown {
		if op[0] < 0xfc {
			continue
		}
		sub, _, _ := readU32(op, 1)
		if op[0] == 0xfc && sub > 18 || op[0] == 0xfd && sub > 0x114 || op[0] == 0xfe && sub > 0x4f {
			continue // far past the last assigned sub-opcode
		}
		if _, err := wasm2wat(t, tool, wabtModule(append(append([]byte{0}, op...), 0x0b))); err == nil {
			t.Errorf("opcode % x: wabt decodes it, the scanner does not know it", op)
		}
	}
}
