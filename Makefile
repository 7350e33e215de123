# The two commands of the README: `make demo` and `make test`.
GO ?= go

.PHONY: demo test build bench fuzz

build:
	$(GO) build -o omamori ./cmd/omamori

# The main job on the embedded default: a server with sample traffic replayed into it.
demo: build
	./omamori demo

# Everything the tests need is Go modules, fetched by go itself. The packages where goroutines
# meet (listeners, the bus, the server) run again under the race detector.
RACE_PKGS = ./cmd/... ./internal/ingest ./internal/bus ./internal/auth ./internal/api ./internal/node ./internal/detect

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
