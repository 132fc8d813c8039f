# dbapi: `make run` starts the service, `make test` runs every check CI runs,
# `make check` the fast ones (for the edit-test loop).
GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
MODULE    := github.com/dbapi-dev/dbapi
# The version the binaries report (`dbapi version`, NATS micro INFO).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS   := -X github.com/dbapi-dev/dbapi/service.version=$(VERSION)
# Targets the binary must build for: Linux and the BSDs, amd64 and arm64.
CROSS     := linux/amd64 linux/arm64 freebsd/amd64 freebsd/arm64 openbsd/amd64 openbsd/arm64 netbsd/amd64 netbsd/arm64

.PHONY: run build test check vet lint fmt-check cross node-deps fuzz bench faults clean

# The benchmark is a module of its own (its plotting and histogram
# libraries stay out of the service's go.mod), built from this source
# through a replace directive; test, vet and lint cover it too.
BENCH_MOD := cmd/dbapi-bench

# The bank example on an embedded NATS server (see examples/bank).
run:
	$(GO) run -ldflags '$(LDFLAGS)' ./examples/bank

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/dbapi ./cmd/dbapi
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/bank ./examples/bank

# The packages that start clusters of their own (3 Galera nodes, NATS
# servers, a primary and replicas) run one at a time, after the others:
# on 2 cores, three Galera clusters at once time out.
CLUSTER_PKGS := ./internal/mariadbd ./internal/haproxy ./internal/natscluster ./replica ./faults
test: fmt-check vet lint cross node-deps
	$(GO) test -race -count=1 -timeout 20m $(filter-out $(CLUSTER_PKGS:./%=$(MODULE)/%),$(shell $(GO) list $(PKGS)))
	$(GO) test -race -count=1 -timeout 30m -p 1 $(CLUSTER_PKGS)
	cd $(BENCH_MOD) && $(GO) test -race -count=1 -timeout 10m ./...

# The Node.js projects Go tests run (Node.js 20+): the AsyncAPI validator
# (package service checks `describe` with it) and the JavaScript example
# client (run against the service). npm ci installs exactly their lock
# files, and runs again only when a lock file changes. Without npm the
# tests that need it skip, saying why; under CI=true both fail.
NODE_PROJECTS := asyncapi/testdata/validator examples/js
node-deps: $(NODE_PROJECTS:%=%/node_modules/.package-lock.json)

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "npm ci in $*"; cd $* && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.package-lock.json; \
	elif [ "$$CI" = true ]; then \
		echo "npm is not installed; CI needs Node.js 20 or later"; exit 1; \
	else \
		echo "npm is not installed: skipping $* (the Go tests that need it skip)"; \
	fi

# The fast checks: gofmt, vet, staticcheck, and the short tests of every
# package but the end-to-end ones (service, the load tool, the fault
# suite), plus the service's own unit tests (configuration, help, version).
FAST_PKGS  ?= $(shell $(GO) list ./... | grep -v -e '/service$$' -e '/cmd/dbapi-bench$$' -e '/faults$$')
FAST_TESTS ?= ^(TestLoadConfig|TestDefaultsAgree|TestHelp|TestVersion|TestFromBuild|TestREADME|TestUnknown|TestDriverLogger)
check: fmt-check vet lint
	$(GO) test -short -count=1 $(FAST_PKGS)
	$(GO) test -short -count=1 -run '$(FAST_TESTS)' ./service
	cd $(BENCH_MOD) && $(GO) test -short -count=1 ./...

vet:
	$(GO) vet $(PKGS)
	cd $(BENCH_MOD) && $(GO) vet ./...

# staticcheck, pinned, fetched through the Go module proxy.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) $(PKGS)
	cd $(BENCH_MOD) && $(GO) run $(STATICCHECK) ./...

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
	$(GO) test -run '^$$' -fuzz '^FuzzPlanBatch$$' -fuzztime $(FUZZTIME) ./batch
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeParams$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeParamsSameAsReference$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzSameDecision$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzParamsSchema$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzAppendValue$$' -fuzztime $(FUZZTIME) ./rowjson
	$(GO) test -run '^$$' -fuzz '^FuzzArgs$$' -fuzztime $(FUZZTIME) ./rawsql

# Benchmark (about 10 minutes on 2 cores; needs MariaDB/MySQL at
# 127.0.0.1:3306, see BENCH_MYSQL, and mariadbd with mariadb-install-db for
# the binlog and replica profiles). Modes: directly through database/sql,
# through the hand-written micro service, through a dbapi process with one
# transaction per request (DBAPI_COALESCE_MAX=1) and, for transfer, through
# a second one with group commit at its defaults (coalesced). Three
# database profiles, one after the other:
#  - default, on the server BENCH_MYSQL names: transfer, get and batch at
#    1 to 512 clients (closed loop) and at 50% and 90% of the best dbapi
#    throughput (open loop), then 10,000 requests at once; 7 levels of 9
#    workload modes, each 4 rounds of 1 s (after 0.5 s of warm-up, a
#    quarter of it in later rounds): about 5 minutes;
#  - binlog, on a mariadbd the benchmark starts and removes (binary log
#    synced at each commit, where commits cost most): transfer only, the
#    same levels and rounds: about 2.5 minutes;
#  - replica, on a MariaDB primary and one GTID replica the benchmark
#    starts and removes: get and transfer at 1, 32 and 128 clients, the
#    same rounds, direct and dbapi on the primary against dbapi with the
#    replica as DBAPI_MYSQL_REPLICA_DSN (mode replica: reads run there,
#    writes read their position after COMMIT), with the CPU per request of
#    the primary and of the replica: about 2 minutes.
# Writes results.json, chart.png and RESULTS.md into bench/out,
# bench/out/binlog and bench/out/replica (untracked); `make bench UPDATE=1`
# writes the committed reports in bench/, bench/binlog and bench/replica
# instead (their generated part only). BENCH_PROFILES=default (or binlog,
# or replica, or two of them) runs those profiles only. More flags, passed
# to every run: BENCHFLAGS="-h".
BENCH_MYSQL    ?= root@tcp(127.0.0.1:3306)/dbapi_bench
BENCHFLAGS     ?=
UPDATE         ?=
BENCH_OUT      ?= $(if $(UPDATE),bench,bench/out)
BENCH_PROFILES ?= default binlog replica
BENCH_LEVELS   := -clients 1,8,32,128,512 -rates 50%,90% -duration 4s -warmup 500ms -rounds 4
BENCH_REPLICA  := -clients 1,32,128 -duration 4s -warmup 500ms -rounds 4 -modes direct,service,replica
bench:
	$(GO) build -o $(BIN)/bank ./examples/bank
	cd $(BENCH_MOD) && $(GO) build -o $(abspath $(BIN))/dbapi-bench .
ifneq ($(filter default,$(BENCH_PROFILES)),)
	$(BIN)/dbapi-bench -dbapi $(BIN)/bank -mysql '$(BENCH_MYSQL)' -workloads transfer,get,batch \
		$(BENCH_LEVELS) -burst 10000 -out $(BENCH_OUT) $(BENCHFLAGS)
endif
ifneq ($(filter binlog,$(BENCH_PROFILES)),)
	$(BIN)/dbapi-bench -dbapi $(BIN)/bank -mysql '$(BENCH_MYSQL)' -mysqld binlog -workloads transfer \
		$(BENCH_LEVELS) -out $(BENCH_OUT)/binlog $(BENCHFLAGS)
endif
ifneq ($(filter replica,$(BENCH_PROFILES)),)
	$(BIN)/dbapi-bench -dbapi $(BIN)/bank -mysql '$(BENCH_MYSQL)' -mysqld replica -workloads get,transfer \
		$(BENCH_REPLICA) -out $(BENCH_OUT)/replica $(BENCHFLAGS)
endif

# The fault suite, long version (minutes): the bank example as real
# processes against a mariadbd and a NATS server of the suite's own, under
# load, through every fault in faults/; every request is checked against
# the database. Needs mariadbd and mariadb-install-db; touches no other
# server. Then the same on a 3-node NATS cluster (nats-server processes
# built from go.mod's version; TestNATSClusterFaults), on a 3-node
# MariaDB Galera cluster with HAProxy (TestGaleraFaults; needs galera-4,
# rsync and haproxy), and with a read replica (a MariaDB primary and a
# GTID replica; TestReplicaFaults). Writes and prints the tables (make
# faults FAULTS_OUT=bench/faults.md to keep them elsewhere; the NATS
# cluster's is FAULTS_OUT with -natscluster before .md, the replica's with
# -replica, Galera's FAULTS_GALERA_OUT).
# make test runs the short version.
FAULTS_OUT ?= faults/out/faults.md
FAULTS_GALERA_OUT ?= $(FAULTS_OUT:.md=-galera.md)
faults:
	DBAPI_FAULTS=full DBAPI_FAULTS_OUT=$(abspath $(FAULTS_OUT)) DBAPI_FAULTS_GALERA_OUT=$(abspath $(FAULTS_GALERA_OUT)) \
		$(GO) test -count=1 -timeout 60m -run '^(TestFaults|TestNATSClusterFaults|TestGaleraFaults|TestReplicaFaults)$$' ./faults/
	@cat $(FAULTS_OUT) $(FAULTS_OUT:.md=-natscluster.md) $(FAULTS_GALERA_OUT) $(FAULTS_OUT:.md=-replica.md)

clean:
	rm -rf $(BIN)
