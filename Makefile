# dbapi: `make run` starts the service, `make test` runs every check CI runs.
GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
# Targets the binary must build for: Linux and the BSDs, amd64 and arm64.
CROSS     := linux/amd64 linux/arm64 freebsd/amd64 freebsd/arm64 openbsd/amd64 openbsd/arm64 netbsd/amd64 netbsd/arm64

.PHONY: run build test vet lint fmt-check cross fuzz bench clean

# The bank example on an embedded NATS server (see examples/bank).
run:
	$(GO) run ./examples/bank

build:
	$(GO) build -o $(BIN)/dbapi ./cmd/dbapi
	$(GO) build -o $(BIN)/bank ./examples/bank

test: fmt-check vet lint cross
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

vet:
	$(GO) vet $(PKGS)

# staticcheck, pinned, fetched through the Go module proxy.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Cross-compile cmd/dbapi and the bank example for every supported OS and
# architecture (no cgo).
cross:
	@for t in $(CROSS); do \
		echo "build $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/dbapi ./examples/bank || exit 1; \
	done

# Short fuzzing runs of every decoder of outside input.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeParams$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzParseAmount$$' -fuzztime $(FUZZTIME) ./examples/bank/bank
	$(GO) test -run '^$$' -fuzz '^FuzzPlanBatch$$' -fuzztime $(FUZZTIME) ./consumer
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeParams$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzSameDecision$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzAppendValue$$' -fuzztime $(FUZZTIME) ./rowjson
	$(GO) test -run '^$$' -fuzz '^FuzzArgs$$' -fuzztime $(FUZZTIME) ./rawsql

# Benchmark (a few minutes; needs MariaDB/MySQL at 127.0.0.1:3306, see
# BENCH_MYSQL): each workload at 1 to 512 clients (closed loop) and at 50%
# and 90% of its best service throughput (open loop), directly through
# database/sql and through a dbapi process that it starts, then 10,000
# requests at once. Writes bench/results.json, bench/chart.png and the
# generated part of bench/RESULTS.md. More flags: BENCHFLAGS="-h".
BENCH_MYSQL ?= root@tcp(127.0.0.1:3306)/dbapi_bench
BENCHFLAGS  ?=
bench:
	$(GO) build -o $(BIN)/bank ./examples/bank
	$(GO) build -o $(BIN)/dbapi-bench ./cmd/dbapi-bench
	$(BIN)/dbapi-bench -dbapi $(BIN)/bank -mysql '$(BENCH_MYSQL)' -workloads transfer,get,batch \
		-clients 1,8,32,128,512 -rates 50%,90% -duration 4s -warmup 500ms -rounds 4 \
		-burst 10000 -out bench $(BENCHFLAGS)

clean:
	rm -rf $(BIN)
