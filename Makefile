# backupbridge. `make help` lists the targets.
#
# Two audiences:
#   - developers and CI: build, test, fuzz, bench, fmt, vet, run, tools, clean;
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
    ./internal/connectwise:FuzzConditionString

BENCH     ?= .
BENCHTIME ?= 1s

# Pinned local servers that `make tools` installs into ./.bin from the Go
# module proxy, as name=module@version: goaws (SQS) and the Lambda runtime
# interface emulator (what `sam local invoke` runs). Tests install them on
# demand the same way (internal/dev/localaws), so `go test ./...` also works alone.
TOOLS ?= \
    goaws=github.com/Admiral-Piett/goaws/app/cmd@v0.5.4 \
    aws-lambda-rie=github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
TOOLS_BIN := $(CURDIR)/.bin
export PATH := $(TOOLS_BIN):$(PATH)

# Go sources, skipping hidden directories (.git, .aws-sam, .bin) and bin/.
FIND_GO := find . -type f -name '*.go' -not -path './.*' -not -path './bin/*'

.PHONY: help check-go check-artifacts-dir build \
	build-WebhookFunction build-WorkerFunction build-ResyncFunction build-AdminFunction \
	test vet fmt fmt-check fuzz bench run tools clean

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

test: check-go tools vet fmt-check ## go vet, gofmt check, race-enabled tests (local servers included), then short fuzz runs
	$(GO) test -race -count=1 ./...
	@$(MAKE) --no-print-directory fuzz

vet: check-go ## go vet ./...
	$(GO) vet ./...

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

run: check-go tools ## Run the whole service locally on its embedded defaults (RUN_ARGS=-h for flags)
	$(GO) run ./infra/localstack $(RUN_ARGS)

tools: check-go ## Install the pinned TOOLS into ./.bin (skips those present)
	@mkdir -p "$(TOOLS_BIN)"; \
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
