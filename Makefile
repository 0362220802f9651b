# backupbridge. `make help` lists the targets.
#
# Two audiences:
#   - developers and CI: build, test, lint, fuzz, bench, fmt, vet, run, tools, clean;
#   - `sam build`: template.yaml gives every function `BuildMethod: makefile`,
#     so SAM runs `make build-<LogicalId>` in a copy of this directory with
#     ARTIFACTS_DIR set, and deploys $(ARTIFACTS_DIR)/bootstrap.

SHELL := /bin/sh
.DEFAULT_GOAL := help

# The Go release every build and test uses. A machine starts on its own Go
# and ignores go.mod's toolchain line under GOTOOLCHAIN=local, so it is
# exported here: the go command fetches this version from the module proxy
# on first use (about 10 s). go1.26.x has reachable standard-library
# vulnerabilities (issue 7).
export GOTOOLCHAIN := go1.27.3

GO     ?= go
GOFMT  ?= $(shell $(GO) env GOROOT)/bin/gofmt
GO_MIN := 1.27

# One Lambda function per directory under functions/.
FUNCTIONS := webhook worker resync admin
BIN_DIR   := bin

# Lambda provided.al2023 on Graviton: a static linux/arm64 binary called
# bootstrap, without the legacy RPC mode of aws-lambda-go.
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
LAMBDA_BUILD := $(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS)

# Fuzz targets run by `make test` (and `make fuzz`), as <package dir>:<FuzzName>,
# each for FUZZTIME. A target whose package does not exist yet is skipped; a
# target missing from an existing package is an error (fix the list).
# A duration: Go 1.27 fixed the fuzz coordinator's spurious "context
# deadline exceeded" at the end of a -fuzztime duration (golang/go#75804),
# which is why Go 1.26 builds used an execution count.
FUZZTIME ?= 5s
FUZZ_TARGETS ?= \
    ./internal/signature:FuzzVerify \
    ./internal/contract:FuzzParse \
    ./internal/contract:FuzzMatchers \
    ./internal/connectwise:FuzzConditionString

CHROMIUM ?= chromium

BENCH     ?= .
BENCHTIME ?= 1s

# Pinned local servers that `make tools` installs into ./.bin from the Go
# module proxy, as name=module@version: the Lambda runtime interface emulator
# (what `sam local invoke` runs). Tests install it on demand the same way
# (internal/dev/localaws), so `go test ./...` also works alone.
TOOLS ?= \
    aws-lambda-rie=github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
TOOLS_BIN := $(CURDIR)/.bin
export PATH := $(TOOLS_BIN):$(PATH)

# The local SQS is goaws v0.5.4 bound to 127.0.0.1 only: the command
# ./internal/dev/localaws/goawsloopback, a tool directive of go.mod (goaws's
# own command listens on every interface and has no authentication). `go
# tool` builds it into the Go build cache; `make tools` does that ahead.
GOAWS_TOOL := goawsloopback

# Ports of the local SQS (goaws) and DynamoDB (minidyn) under `make run`, on
# 127.0.0.1: fixed so that events/env.json (sam local invoke) can name them.
# 0 picks free ports. Tests always use free ports, hence the unexport.
LOCAL_SQS_PORT      ?= 4100
LOCAL_DYNAMODB_PORT ?= 8000
unexport BACKUPBRIDGE_LOCAL_SQS_PORT BACKUPBRIDGE_LOCAL_DYNAMODB_PORT

# Linters (`make lint`, run by `make test` and so by CI):
#   - cfn-lint on template.yaml, informational checks (I...) included. It is a
#     Python tool, installed with pip on the build machines and CI
#     (`pip install cfn-lint`). Where it is missing, lint says so and goes on,
#     unless REQUIRE_CFN_LINT is non-empty (.ci/run sets it): then it fails.
#   - staticcheck, pinned by the tool directive in go.mod (`go tool staticcheck`).
CFN_LINT         ?= cfn-lint
CFN_LINT_FLAGS   ?= --include-checks I
REQUIRE_CFN_LINT ?=

# Go sources, skipping hidden directories (.git, .aws-sam, .bin) and bin/.
FIND_GO := find . -type f -name '*.go' -not -path './.*' -not -path './bin/*'

.PHONY: help check-go check-artifacts-dir build \
	build-WebhookFunction build-WorkerFunction build-ResyncFunction build-AdminFunction browser-check screenshots \
	test vet lint lint-template staticcheck tidy-check fmt fmt-check fuzz bench chaos run tools clean

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[A-Za-z_-]+:.*## / { printf "  %-24s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

check-go: ## Fail unless `go version` reports Go 1.27 or newer
	@v=$$($(GO) version 2>/dev/null) || { echo "error: '$(GO)' not found: install Go $(GO_MIN) or newer (https://go.dev/dl/)" >&2; exit 1; }; \
	ver=$$(echo "$$v" | awk '{ print $$3 }' | sed 's/^go//'); \
	if ! echo "$$ver" | awk -F. -v want="$(GO_MIN)" '{ split(want, w, "."); maj = $$1 + 0; min = $$2 + 0; exit !(maj > w[1] + 0 || (maj == w[1] + 0 && min >= w[2] + 0)) }'; then \
		echo "error: Go $(GO_MIN) or newer is required, but '$(GO) version' says: $$v" >&2; exit 1; \
	fi

check-artifacts-dir:
	@test -n "$(ARTIFACTS_DIR)" || { echo "error: ARTIFACTS_DIR is not set: these targets are for 'sam build'; use 'make build' to build locally" >&2; exit 1; }

build: check-go ## Build every function into bin/<name>/bootstrap (linux/arm64)
	@for f in $(FUNCTIONS); do \
		echo "go build ./functions/$$f -> $(BIN_DIR)/$$f/bootstrap"; \
		$(LAMBDA_BUILD) -o $(BIN_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# The targets `sam build` runs (BuildMethod: makefile), one per function of
# template.yaml; internal/dev/stackdef/template_test.go checks they match.
build-WebhookFunction: check-go check-artifacts-dir
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/webhook

build-WorkerFunction: check-go check-artifacts-dir
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/worker

build-ResyncFunction: check-go check-artifacts-dir
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/resync

build-AdminFunction: check-go check-artifacts-dir
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/admin

test: check-go tools tidy-check vet fmt-check lint browser-check ## go.mod tidy, vet, gofmt, lint, race-enabled tests (local servers and browser included), then short fuzz runs
	$(GO) test -race -count=1 ./...
	@$(MAKE) --no-print-directory fuzz

vet: check-go ## go vet ./...
	$(GO) vet ./...

lint: lint-template staticcheck ## cfn-lint template.yaml and staticcheck ./...

lint-template: ## cfn-lint template.yaml (skipped with a note when cfn-lint is missing, unless REQUIRE_CFN_LINT is set)
	@if command -v $(CFN_LINT) >/dev/null 2>&1; then \
		echo "$(CFN_LINT) $(CFN_LINT_FLAGS) -- template.yaml"; \
		$(CFN_LINT) $(CFN_LINT_FLAGS) -- template.yaml || exit 1; \
	elif [ -n "$(REQUIRE_CFN_LINT)" ]; then \
		echo "error: $(CFN_LINT) not found and REQUIRE_CFN_LINT is set: install it with 'pip install cfn-lint'" >&2; exit 1; \
	else \
		echo "lint: $(CFN_LINT) not found, template.yaml not linted (pip install cfn-lint; CI requires it)"; \
	fi

staticcheck: check-go ## staticcheck ./... (version pinned by go.mod's tool directive)
	$(GO) tool staticcheck ./...

# The console's browser tests (internal/dev/consoletest) need Debian's
# chromium; without it they skip, and this says so in one line (with CI=true
# they fail instead).
browser-check:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || echo "note: $(CHROMIUM) not found: the console's browser tests are skipped (install it: sudo apt-get install chromium)"

screenshots: check-go ## Take the console's screenshots in chromium into docs/screenshots (the browser tests)
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run . ./internal/dev/consoletest

tidy-check: check-go ## Fail when go.mod or go.sum is not what `go mod tidy` makes them
	@$(GO) mod tidy -diff || { echo "error: go.mod/go.sum are not tidy (diff above): run 'go mod tidy'" >&2; exit 1; }

fmt: ## gofmt -w every Go file
	@$(FIND_GO) -exec $(GOFMT) -w {} +

fmt-check: ## Fail, listing them, when Go files are not gofmt-formatted
	@files=$$($(FIND_GO) -exec $(GOFMT) -l {} +); \
	if [ -n "$$files" ]; then \
		echo "error: gofmt would change these files (run 'make fmt'):" >&2; echo "$$files" >&2; exit 1; \
	fi

fuzz: check-go ## Run each FUZZ_TARGETS entry for FUZZTIME (default 5s)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		if ! ls "$$pkg"/*.go >/dev/null 2>&1; then \
			echo "fuzz: skip $$name: package $$pkg does not exist yet"; continue; \
		fi; \
		if ! grep -Eqs "^func $$name\(" "$$pkg"/*_test.go; then \
			echo "error: fuzz target $$name is not in $$pkg/*_test.go (fix FUZZ_TARGETS)" >&2; exit 1; \
		fi; \
		echo "go test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

bench: check-go ## Run benchmarks (BENCH=regexp, BENCHTIME=1s)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./...

# Builds every function (linux/arm64 for the sizes, the host for the emulator)
# and cold-starts each 5 times under the Lambda RIE (internal/dev/emulator).
.PHONY: bench-lambda
bench-lambda: check-go ## Report the functions' arm64 binary sizes and init durations under the Lambda RIE
	REPORT_LAMBDA=1 $(GO) test -run '^TestReportBinarySizeAndInit$$' -count=1 -v ./internal/dev/emulator

# Drives COST_EVENTS (default 200) events of each type through the local stack
# with the request meter on its AWS clients (internal/dev/costmeter) and prints
# requests, DynamoDB units and $ per million events at us-east-1 list prices
# (internal/dev/localstack/cost_test.go; make test runs its TestWriteBudget,
# a few events per type held to their write budgets).
.PHONY: bench-cost
bench-cost: check-go tools ## Count AWS requests and DynamoDB capacity per event type, and price them
	BENCH_COST=1 $(GO) test -run '^TestCost$$' -count=1 -v ./internal/dev/localstack/

# The chaos run (10,000 events, 30% ConnectWise faults, duplicates, one
# partner's keys refused for the middle third) and the isolation benchmark,
# on the local stack (internal/dev/localstack/chaos_test.go, isolation_test.go).
# Built only with the tag chaos, so `make test` never compiles them.
chaos: check-go tools ## Chaos run and isolation benchmark (not part of make test)
	$(GO) test -tags chaos -run 'TestChaos|TestIsolation' -count=1 -v -timeout 30m ./internal/dev/localstack/

run: check-go tools ## Run the whole service locally on its embedded defaults (RUN_ARGS=-h for flags)
	BACKUPBRIDGE_LOCAL_SQS_PORT=$(LOCAL_SQS_PORT) BACKUPBRIDGE_LOCAL_DYNAMODB_PORT=$(LOCAL_DYNAMODB_PORT) \
		$(GO) run ./infra/localstack $(RUN_ARGS)

tools: check-go ## Install the pinned TOOLS into ./.bin (skips those present) and build the loopback goaws
	@echo "go tool -n $(GOAWS_TOOL) (builds goaws, loopback only, into the Go build cache)"; \
	$(GO) tool -n $(GOAWS_TOOL) >/dev/null || exit 1; \
	mkdir -p "$(TOOLS_BIN)"; \
	for t in $(TOOLS); do \
		name=$${t%%=*}; mod=$${t#*=}; \
		if [ -x "$(TOOLS_BIN)/$$name" ]; then echo "tools: $$name present"; continue; fi; \
		tmp=$$(mktemp -d "$(TOOLS_BIN)/install.XXXXXX"); \
		echo "go install $$mod -> .bin/$$name"; \
		GOBIN="$$tmp" $(GO) install "$$mod" || { rm -rf "$$tmp"; exit 1; }; \
		mv "$$tmp"/* "$(TOOLS_BIN)/$$name" && rm -rf "$$tmp" || exit 1; \
	done

clean: ## Remove build output (bin/, .aws-sam/)
	rm -rf $(BIN_DIR) .aws-sam
