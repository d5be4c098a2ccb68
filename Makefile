# berth: `make demo` runs a container from a locally built busybox image; `make test` runs the
# whole test suite. Both install what they need from Debian's packages (run as root).

CARGO ?= cargo

.PHONY: deps build demo test lint bench

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --release

demo: build
	scripts/demo.sh

test: deps
	$(CARGO) test --workspace
	scripts/containerd-test.sh
	scripts/dockerd-test.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

bench: build
	bench/runtime.sh
	bench/run.sh
