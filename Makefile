# dbapi: `make run` starts the service, `make test` runs every check CI runs.
GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
# Targets the binary must build for: Linux and the BSDs, amd64 and arm64.
CROSS     := linux/amd64 linux/arm64 freebsd/amd64 freebsd/arm64 openbsd/amd64 openbsd/arm64 netbsd/amd64 netbsd/arm64

.PHONY: run build test vet fmt-check cross fuzz bench clean

run:
	$(GO) run ./cmd/dbapi

build:
	$(GO) build -o $(BIN)/dbapi ./cmd/dbapi

test: fmt-check vet cross
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Cross-compile cmd/dbapi for every supported OS and architecture (no cgo).
cross:
	@for t in $(CROSS); do \
		echo "build $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/dbapi || exit 1; \
	done

# Short fuzzing runs of every decoder of outside input.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeParams -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz FuzzParseAmount -fuzztime $(FUZZTIME) ./bank
	$(GO) test -run '^$$' -fuzz FuzzPlanBatch -fuzztime $(FUZZTIME) ./consumer

clean:
	rm -rf $(BIN)
