package netfilter

// The XDP program's objects (xdp_bpfel.o, xdp_bpfeb.o) and their Go
// bindings are generated from bpf/xdp.c and committed, so that building
// Wedge needs no clang. Regenerate with `make generate` (clang and
// libbpf-dev's headers needed).
//
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel,bpfeb xdp bpf/xdp.c
