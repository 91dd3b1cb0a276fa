package runtime

// HoldUpgrade keeps m interpreted (Config.InterpretFirst) until release is
// called: its compilation for the compiler does not start before. Call it
// right after Compile, before m is put to use.
func HoldUpgrade(m *Module) (release func()) {
	m.upMu.Lock()
	m.upCancel = func() {}
	m.upMu.Unlock()
	return m.stopUpgrade
}
