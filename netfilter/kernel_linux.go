package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// kernel is the XDP program loaded, its maps (pinned) and its attachment.
type kernel struct {
	objs    xdpObjects
	tab     *kernelTables
	rtnl    *rtnl
	ifindex int
	dir     string    // pin directory of this interface
	lnk     link.Link // nil when attached through netlink
	mode    Mode
	log     *slog.Logger
}

// linkPin is the name of the pinned link in the pin directory.
const linkPin = "link"

// loadObjects loads the XDP program and its maps. With a pin directory,
// maps pinned there by a previous run are reused (their contents are the
// rules) and new ones are pinned there; without one, nothing is pinned.
func loadObjects(dir string) (*xdpObjects, error) {
	spec, err := loadXdp()
	if err != nil {
		return nil, fmt.Errorf("load XDP spec: %w", err)
	}
	if dir == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	}
	var objs xdpObjects
	err = spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		return nil, fmt.Errorf("%w: %s: %w", ErrIncompatiblePins, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load XDP program: %w", err)
	}
	return &objs, nil
}

// refused reports whether err is the kernel saying no to BPF as such (no
// privilege, no support), rather than to something we did wrong.
func refused(err error) bool {
	return errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EPERM) ||
		errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOSYS)
}

// nativeUnsupported reports whether err is a driver declining native XDP:
// not implemented (EOPNOTSUPP), MTU too large (ERANGE), or a configuration
// it cannot serve (EINVAL, ENOMEM, ENOSPC: queues, buffers).
func nativeUnsupported(err error) bool {
	for _, e := range []error{unix.EOPNOTSUPP, unix.ERANGE, unix.EINVAL, unix.ENOMEM, unix.ENOSPC} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ensureBPFFS makes dir (and its parents) and mounts a bpf file system on
// it unless it is on one already.
func ensureBPFFS(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w", dir, err)
	}
	return nil
}

// openKernel loads the program (re-using the maps pinned by a previous run)
// and attaches it to the interface in the mode asked for.
func openKernel(cfg Config, log *slog.Logger) (_ *kernel, err error) {
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", cfg.Interface, err)
	}
	// Before Linux 5.11, BPF memory counts against RLIMIT_MEMLOCK, too low
	// for these maps; later kernels account it to the cgroup, and this
	// does nothing. Without CAP_SYS_RESOURCE it fails, and loading may
	// still succeed.
	if err := rlimit.RemoveMemlock(); err != nil {
		log.Debug("netfilter: cannot raise RLIMIT_MEMLOCK", "err", err)
	}
	if err := ensureBPFFS(cfg.pinDir()); err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.pinDir(), cfg.Interface)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	objs, err := loadObjects(dir)
	if err != nil {
		return nil, err
	}
	k := &kernel{objs: *objs, ifindex: ifc.Index, dir: dir, log: log}
	defer func() {
		if err != nil {
			k.close()
		}
	}()
	k.tab = newKernelTables(&k.objs)
	if k.rtnl, err = openRtnl(); err != nil {
		return nil, err
	}
	if err := k.attach(cfg.Mode); err != nil {
		return nil, err
	}
	return k, nil
}

func modeFlags(m Mode) link.XDPAttachFlags {
	if m == ModeNative {
		return link.XDPDriverMode
	}
	return link.XDPGenericMode
}

// modeOf returns the mode in which program id is attached, or 0.
func (st xdpState) modeOf(id uint32) Mode {
	switch {
	case id == 0:
		return 0
	case st.drv == id:
		return ModeNative
	case st.skb == id:
		return ModeGeneric
	}
	return 0
}

// attach attaches the program, taking over whatever is there without a
// moment with no filter where the kernel allows it:
//
//  1. our link pinned by a previous run: swap the program in it
//     (BPF_LINK_UPDATE, atomic);
//  2. otherwise a new link, native then generic (ModeAuto);
//  3. when the device has a program already (EBUSY, EEXIST): if it is
//     another bpf_link, swap our program into it; if it was attached
//     through netlink, replace it through netlink with XDP_FLAGS_REPLACE
//     (atomic), and stay attached that way.
//
// Only a change of mode (native to generic or back) and a link whose
// program cannot be swapped (a different expected attach type) take a
// detach and a new attach, with a short window; both are logged.
func (k *kernel) attach(want Mode) error {
	path := filepath.Join(k.dir, linkPin)
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		if ok, err := k.adopt(l, want, true); ok || err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		k.log.Warn("netfilter: ignoring unusable pinned link", "path", path, "err", err)
		_ = os.Remove(path)
	}
	return k.attachNew(want, true)
}

// attachNew attaches the program with a new link, or through netlink on
// kernels without bpf_link for XDP; if the device has a program already,
// it takes over when takeOver is set.
func (k *kernel) attachNew(want Mode, takeOver bool) error {
	prog := k.objs.WedgeXdp
	modes := []Mode{want}
	if want == ModeAuto {
		modes = []Mode{ModeNative, ModeGeneric}
	}
	busy := func(err error) bool { return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) }
	var errs []error
	for i, m := range modes {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: k.ifindex, Flags: modeFlags(m)})
		if errors.Is(err, ebpf.ErrNotSupported) {
			// No bpf_link for XDP (before Linux 5.9): attach through netlink.
			err = k.rtnl.xdpSet(k.ifindex, prog.FD(), uint32(modeFlags(m))|unix.XDP_FLAGS_UPDATE_IF_NOEXIST, -1)
			if err == nil {
				k.mode = m
				return nil
			}
		}
		switch {
		case err == nil:
			if err := l.Pin(filepath.Join(k.dir, linkPin)); err != nil {
				_ = l.Close()
				return fmt.Errorf("pin XDP link: %w", err)
			}
			k.lnk, k.mode = l, m
			return nil
		case busy(err) && takeOver:
			return k.takeOver(want)
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
		if m != ModeNative || i == len(modes)-1 || !nativeUnsupported(err) {
			break
		}
		k.log.Info("netfilter: native XDP not available, trying generic", "interface", k.ifindex, "err", err)
	}
	return fmt.Errorf("attach XDP: %w", errors.Join(errs...))
}

// adopt swaps our program into an existing XDP link l of this device, ours
// (pinned by a previous run) or not, and pins it as ours. It reports false
// (and closes l) when l is not usable — another device, defunct, the wrong
// mode — for the caller to attach anew.
func (k *kernel) adopt(l link.Link, want Mode, ours bool) (bool, error) {
	path := filepath.Join(k.dir, linkPin)
	info, err := l.Info()
	if err != nil || info.Type != link.XDPType || info.XDP() == nil || int(info.XDP().Ifindex) != k.ifindex {
		k.log.Warn("netfilter: dropping a pinned link of another device", "path", path)
		_ = l.Unpin()
		_ = l.Close()
		return false, nil
	}
	st, err := k.rtnl.xdpQuery(k.ifindex)
	if err != nil {
		_ = l.Close()
		return false, err
	}
	mode := st.modeOf(uint32(info.Program))
	replace := func(why string, args ...any) (bool, error) {
		k.log.Warn("netfilter: replacing an XDP link, packets pass unfiltered for a moment: "+why,
			append([]any{"interface", k.ifindex}, args...)...)
		_ = l.Unpin()
		_ = l.Detach()
		_ = l.Close()
		if want == ModeAuto && mode != 0 {
			want = mode
		}
		return true, k.attachNew(want, false)
	}
	switch {
	case mode == 0:
		_ = l.Unpin()
		_ = l.Close()
		return false, nil
	case want != ModeAuto && want != mode:
		return replace("mode change", "from", mode, "to", want)
	}
	if err := l.Update(k.objs.WedgeXdp); err != nil {
		// Typically a link made for a program of another expected attach
		// type (AttachNone, from older loaders).
		return replace("cannot swap its program", "err", err)
	}
	if !ours {
		_ = os.Remove(path)
		if err := l.Pin(path); err != nil {
			_ = l.Close()
			return false, fmt.Errorf("pin XDP link: %w", err)
		}
	}
	k.lnk, k.mode = l, mode
	k.log.Info("netfilter: took over XDP link", "interface", k.ifindex, "ours", ours, "mode", mode)
	return true, nil
}

// takeOver replaces the XDP program attached to the device by another
// link or through netlink.
func (k *kernel) takeOver(want Mode) error {
	st, err := k.rtnl.xdpQuery(k.ifindex)
	if err != nil {
		return err
	}
	id, mode := st.drv, ModeNative
	if id == 0 {
		id, mode = st.skb, ModeGeneric
	}
	if id == 0 {
		return fmt.Errorf("attach XDP: device busy, but no program attached (offloaded: %d)", st.hw)
	}

	// A link of some other process or pin: swap our program into it.
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType || uint32(info.Program) != id {
			continue
		}
		if xi := info.XDP(); xi == nil || int(xi.Ifindex) != k.ifindex {
			continue
		}
		ok, err := k.adopt(it.Take(), want, false)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		return k.attachNew(want, false) // the link is gone now
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list links: %w", err)
	}

	// Attached through netlink: replace it atomically through netlink.
	if want != ModeAuto && want != mode {
		k.log.Warn("netfilter: removing an XDP program of the wrong mode, packets pass unfiltered for a moment",
			"interface", k.ifindex, "from", mode, "to", want)
		if err := k.rtnl.xdpSet(k.ifindex, -1, uint32(modeFlags(mode)), -1); err != nil {
			return err
		}
		return k.attachNew(want, false)
	}
	old, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return fmt.Errorf("open attached XDP program %d: %w", id, err)
	}
	defer old.Close()
	flags := uint32(modeFlags(mode)) | unix.XDP_FLAGS_REPLACE
	if err := k.rtnl.xdpSet(k.ifindex, k.objs.WedgeXdp.FD(), flags, old.FD()); err != nil {
		return fmt.Errorf("replace XDP program %d: %w", id, err)
	}
	k.mode = mode
	k.log.Info("netfilter: replaced XDP program attached through netlink", "interface", k.ifindex, "old", id, "mode", mode)
	return nil
}

// close releases our file descriptors. The pinned link (or the netlink
// attachment) and the pinned maps stay: the program keeps filtering, and
// the next Open takes them over.
func (k *kernel) close() error {
	var errs []error
	if k.lnk != nil {
		errs = append(errs, k.lnk.Close())
	}
	if k.rtnl != nil {
		errs = append(errs, k.rtnl.close())
	}
	if k.tab != nil {
		errs = append(errs, k.tab.close())
	}
	errs = append(errs, k.objs.Close())
	return errors.Join(errs...)
}

// detach removes the program from the device, and the pins.
func (k *kernel) detach() error {
	var errs []error
	if k.lnk != nil {
		errs = append(errs, k.lnk.Unpin(), k.lnk.Detach())
	} else if k.rtnl != nil {
		// Only if it is still ours.
		err := k.rtnl.xdpSet(k.ifindex, -1, uint32(modeFlags(k.mode))|unix.XDP_FLAGS_REPLACE, k.objs.WedgeXdp.FD())
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, err)
		}
	}
	for _, m := range k.tab.maps() {
		errs = append(errs, m.Unpin())
	}
	if err := os.Remove(k.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	errs = append(errs, k.close())
	return errors.Join(errs...)
}

// kernelTables is tables on the XDP program's maps.
type kernelTables struct {
	objs   *xdpObjects
	prefix [numLists][2]*ebpf.Map // hash, LPM trie
	idx    *index                 // mapped on first use (index_linux.go)
}

var _ tables = (*kernelTables)(nil)

func newKernelTables(objs *xdpObjects) *kernelTables {
	m := &objs.xdpMaps
	return &kernelTables{objs: objs, prefix: [numLists][2]*ebpf.Map{
		listAllow4: {m.Allow4Hash, m.Allow4Lpm},
		listBlock4: {m.Block4Hash, m.Block4Lpm},
		listAllow6: {m.Allow6Hash, m.Allow6Lpm},
		listBlock6: {m.Block6Hash, m.Block6Lpm},
	}}
}

func (t *kernelTables) maps() []*ebpf.Map {
	m := &t.objs.xdpMaps
	return []*ebpf.Map{m.Allow4Hash, m.Allow4Lpm, m.Allow6Hash, m.Allow6Lpm, m.Block4Hash, m.Block4Lpm,
		m.Block6Hash, m.Block6Lpm, m.Config, m.Counters, m.Ports, m.Sources, m.Summary, m.Ptable, m.Ptable6, m.Gates}
}

func (t *kernelTables) table(l list, lpm bool) *ebpf.Map {
	if lpm {
		return t.prefix[l][1]
	}
	return t.prefix[l][0]
}

// prefixKey is struct prefix4 or struct prefix6 for p. Addresses are kept
// in network order: the bytes of the Go integers in memory are the bytes
// of the address.
func prefixKey(p netip.Prefix) any {
	if p.Addr().Is4() {
		a := p.Addr().As4()
		return &xdpPrefix4{Prefixlen: uint32(p.Bits()), Addr: binary.NativeEndian.Uint32(a[:])}
	}
	a := p.Addr().As16()
	k := &xdpPrefix6{Prefixlen: uint32(p.Bits())}
	for i := range k.Addr {
		k.Addr[i] = binary.NativeEndian.Uint32(a[4*i:])
	}
	return k
}

// insertPrefix inserts p, and indexes it: a hash map prefix in the probe
// table after the map has it, in the gates (IPv4 /32s, trie prefixes)
// before.
func (t *kernelTables) insertPrefix(l list, lpm bool, p netip.Prefix, expires uint64) (bool, error) {
	x, err := t.index()
	if err != nil {
		return false, err
	}
	gate := gateable(l, lpm, p)
	if gate {
		x.gateAdd(l, lpm, p)
	}
	created, err := t.insert(l, lpm, p, expires)
	switch {
	case gate && !created:
		x.gateRemove(l, lpm, p)
	case created && !lpm:
		x.add(l, p, expires)
	}
	return created, err
}

func (t *kernelTables) insert(l list, lpm bool, p netip.Prefix, expires uint64) (bool, error) {
	err := t.table(l, lpm).Update(prefixKey(p), &xdpRule{Expires: expires}, ebpf.UpdateNoExist)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ebpf.ErrKeyExist):
		return false, nil
	case errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOSPC):
		return false, fmt.Errorf("%s: %w", p, ErrFull)
	}
	return false, fmt.Errorf("insert %s: %w", p, err)
}

// updatePrefix sets the expiry of p; its probe table entry says that it
// has one before the hash map has it, and that it has none after.
func (t *kernelTables) updatePrefix(l list, lpm bool, p netip.Prefix, expires uint64) error {
	x, err := t.index()
	if err != nil {
		return err
	}
	expiry := func(q netip.Prefix) (uint64, bool) { return t.expiry(l, q) }
	if !lpm && expires != 0 {
		x.setExpires(l, p, expires, expiry)
	}
	if err := t.table(l, lpm).Update(prefixKey(p), &xdpRule{Expires: expires}, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("update %s: %w", p, err)
	}
	if !lpm && expires == 0 {
		x.setExpires(l, p, expires, expiry)
	}
	return nil
}

// expiry returns the expiry of p in the hash map of list l.
func (t *kernelTables) expiry(l list, p netip.Prefix) (uint64, bool) {
	var r xdpRule
	if err := t.table(l, false).Lookup(prefixKey(p), &r); err != nil {
		return 0, false
	}
	return r.Expires, true
}

// deletePrefix deletes p, and unindexes it: a hash map prefix from the
// probe table before the map loses it, from the gates after.
func (t *kernelTables) deletePrefix(l list, lpm bool, p netip.Prefix) (bool, error) {
	x, err := t.index()
	if err != nil {
		return false, err
	}
	expiry := func(q netip.Prefix) (uint64, bool) { return t.expiry(l, q) }
	if !lpm {
		x.remove(l, p, expiry)
	}
	err = t.table(l, lpm).Delete(prefixKey(p))
	switch {
	case err == nil:
		if gateable(l, lpm, p) {
			x.gateRemove(l, lpm, p)
		}
		return true, nil
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return false, nil
	}
	if exp, ok := t.expiry(l, p); ok && !lpm {
		x.add(l, p, exp) // still there
	}
	return false, fmt.Errorf("delete %s: %w", p, err)
}

func (t *kernelTables) eachPrefix(l list, lpm bool, fn func(netip.Prefix, uint64)) error {
	var rule xdpRule
	it := t.table(l, lpm).Iterate()
	if l.family() == 0 {
		var k xdpPrefix4
		for it.Next(&k, &rule) {
			var a [4]byte
			binary.NativeEndian.PutUint32(a[:], k.Addr)
			fn(netip.PrefixFrom(netip.AddrFrom4(a), int(k.Prefixlen)), rule.Expires)
		}
	} else {
		var k xdpPrefix6
		for it.Next(&k, &rule) {
			var a [16]byte
			for i, w := range k.Addr {
				binary.NativeEndian.PutUint32(a[4*i:], w)
			}
			fn(netip.PrefixFrom(netip.AddrFrom16(a), int(k.Prefixlen)), rule.Expires)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate %s: %w", t.table(l, lpm), err)
	}
	return nil
}

func (t *kernelTables) settings() (settings, error) {
	var v xdpSettings
	if err := t.objs.Config.Lookup(uint32(0), &v); err != nil {
		return settings{}, fmt.Errorf("read settings: %w", err)
	}
	return settings{
		srcInterval: v.SrcInterval,
		srcBurst:    v.SrcBurst,
		mask:        v.Mask,
		flags:       v.Flags,
		srcRate:     Rate{PPS: v.SrcPps, Burst: v.SrcBurstPackets},
	}, nil
}

func (t *kernelTables) setSettings(s settings) error {
	v := xdpSettings{
		SrcInterval:     s.srcInterval,
		SrcBurst:        s.srcBurst,
		Mask:            s.mask,
		Flags:           s.flags,
		SrcPps:          s.srcRate.PPS,
		SrcBurstPackets: s.srcRate.Burst,
	}
	if err := t.objs.Config.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	return nil
}

func fromPortLimit(v xdpPortLimit) portLimit {
	return portLimit{interval: v.Interval, burst: v.Burst, tat: v.Tat, rate: Rate{PPS: v.Pps, Burst: v.BurstPackets}}
}

func (t *kernelTables) port(idx uint32) (portLimit, error) {
	var v xdpPortLimit
	if err := t.objs.Ports.Lookup(idx, &v); err != nil {
		return portLimit{}, fmt.Errorf("read port limit: %w", err)
	}
	return fromPortLimit(v), nil
}

func (t *kernelTables) setPort(idx uint32, pl portLimit) error {
	v := xdpPortLimit{Interval: pl.interval, Burst: pl.burst, Pps: pl.rate.PPS, BurstPackets: pl.rate.Burst}
	if err := t.objs.Ports.Put(idx, &v); err != nil {
		return fmt.Errorf("write port limit: %w", err)
	}
	return nil
}

func (t *kernelTables) eachPort(fn func(uint32, portLimit)) error {
	const chunk = 8192
	keys := make([]uint32, chunk)
	vals := make([]xdpPortLimit, chunk)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := t.objs.Ports.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			if vals[i].Interval != 0 {
				fn(keys[i], fromPortLimit(vals[i]))
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read port limits: %w", err)
		}
	}
}

func (t *kernelTables) counters() ([numVerdicts]uint64, error) {
	var out [numVerdicts]uint64
	var perCPU []uint64
	for v := range out {
		if err := t.objs.Counters.Lookup(uint32(v), &perCPU); err != nil {
			return out, fmt.Errorf("read counters: %w", err)
		}
		for _, n := range perCPU {
			out[v] += n
		}
	}
	return out, nil
}

func (t *kernelTables) setSummary(l list, b uint32, m uint8) error {
	idx := summaryWord(l, b)
	var w xdpSummaryWord
	if err := t.objs.Summary.Lookup(idx, &w); err != nil {
		return fmt.Errorf("read summary: %w", err)
	}
	w.Mask[b%8] = m
	if err := t.objs.Summary.Put(idx, &w); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

func (t *kernelTables) eachSummary(fn func(list, uint32, uint8)) error {
	const chunk = 8192
	keys := make([]uint32, chunk)
	vals := make([]xdpSummaryWord, chunk)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := t.objs.Summary.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			for j, m := range vals[i].Mask {
				if m != 0 {
					l, b := summaryBucket(keys[i], j)
					fn(l, b, m)
				}
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read summary: %w", err)
		}
	}
}
