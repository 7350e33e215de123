# The two commands of the README: `make demo` and `make test`.
GO ?= go

.PHONY: demo test build bench fuzz

build:
	$(GO) build -o omamori ./cmd/omamori

# The main job on the embedded default: a server with sample traffic replayed into it.
demo: build
	./omamori demo

# Everything the tests need is Go modules, fetched by go itself.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
