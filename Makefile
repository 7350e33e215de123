# The two commands of the README: `make demo` and `make test`.
GO ?= go

.PHONY: demo test test-deps build bench fuzz

build:
	$(GO) build -o omamori ./cmd/omamori

# The main job on the embedded default: a server with sample traffic replayed into it.
demo: build
	./omamori demo

# The tests need Go modules, fetched by go itself, and for the browser tests of the web UI
# Debian's chromium (with a Japanese font for the screenshots), installed here when missing.
# The packages where goroutines meet (listeners, the bus, the servers) run again under the
# race detector.
RACE_PKGS = ./cmd/... ./internal/ingest ./internal/bus ./internal/auth ./internal/api ./internal/node ./internal/detect \
	./internal/web ./internal/respond ./internal/crowdsec ./internal/access ./internal/journal ./internal/webhook

test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Debian's chromium for the browser tests; without root or apt they skip and say so.
test-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests..."; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null; } || \
		echo "could not install chromium: the browser tests will skip"; \
	else echo "chromium is not installed and cannot be here: the browser tests will skip"; fi; }
