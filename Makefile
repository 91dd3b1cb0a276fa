# Wedge — see README.md. Every target works offline once Go modules are cached.
GO      ?= go
BIN     := bin/wedge
EXAMPLES := $(patsubst examples/%/main.go,%,$(wildcard examples/*/main.go))

.PHONY: all build run test test-short bench check generate examples clean

all: build

## build: the one static binary, bin/wedge
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN) ./cmd/wedge

## run: build, start `wedge serve` on the embedded store with examples/hello deployed
run:
	./scripts/run.sh

## test: every test, with the race detector (what CI runs)
test:
	$(GO) test -race -count=1 -timeout=20m ./...
	cd sdk/go && $(GO) test -race -count=1 ./...

## test-short: the fast tests only (no real-binary end-to-end tests)
test-short:
	$(GO) test -short ./...

## bench: the benchmarks
bench:
	$(GO) test -run=NONE -bench=. -benchmem ./...

## examples: build every Go example to examples/NAME/build/worker.wasm, and
## the C examples to their committed .wasm when clang is installed
C_EXAMPLES := $(wildcard examples/*/*.c)
examples:
	@for ex in $(EXAMPLES); do \
		echo "build examples/$$ex"; \
		(cd examples/$$ex && GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o build/worker.wasm .) || exit 1; \
	done
	@if command -v clang >/dev/null; then for c in $(C_EXAMPLES); do \
		echo "build $$c"; \
		clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--export=wedge_handle -o "$${c%.c}.wasm" "$$c" || exit 1; \
	done; else echo "examples: clang not installed, C examples not rebuilt"; fi

## generate: regenerate committed artefacts (test modules from .wat; needs
## wabt) and the XDP program's objects (netfilter; needs clang and libbpf-dev)
generate:
	@for f in $$(find . -path ./sdk -prune -o -name '*.wat' -path '*/testdata/*' -print); do \
		wat2wasm "$$f" -o "$${f%.wat}.wasm" || exit 1; \
	done
	@if command -v clang >/dev/null && test -f /usr/include/bpf/bpf_helpers.h; then $(GO) generate ./netfilter; \
	else echo "generate: clang or libbpf-dev not installed, XDP objects not rebuilt"; fi

## check: formatting, vet, tidy modules and current generated files; fails on any diff
check:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: the files above need formatting" && exit 1)
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./examples/... ./internal/testguest/...
	cd sdk/go && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...
	$(GO) mod tidy -diff
	cd sdk/go && $(GO) mod tidy -diff
	@if command -v wat2wasm >/dev/null; then \
		$(MAKE) -s generate && git diff --exit-code -- '*.wasm' || (echo "generated files are stale: run make generate" && exit 1); \
	else echo "check: wat2wasm not installed, generated files not verified"; fi
	@if command -v clang >/dev/null && test -f /usr/include/bpf/bpf_helpers.h; then \
		$(GO) generate ./netfilter && git diff --exit-code -- 'netfilter/xdp_bpfe[lb].*' || (echo "generated XDP objects are stale: run make generate" && exit 1); \
	else echo "check: clang or libbpf-dev not installed, XDP objects not verified"; fi

clean:
	rm -rf bin examples/*/build
