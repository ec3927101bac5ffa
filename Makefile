# Govoy build. The Envoy version is pinned once, in go.mod; everything else reads it from there.
SHELL := /bin/bash
GO ?= go
ENVOY_VERSION := $(shell awk '$$1=="github.com/envoyproxy/envoy"{print $$2; exit}' go.mod)
BIN := $(CURDIR)/.bin
PGV_VERSION := v1.3.0
PROTOC_GEN_GO_VERSION := v1.36.11
PGV_DIR = $(shell $(GO) list -m -f '{{.Dir}}' github.com/envoyproxy/protoc-gen-validate)
PROTO_FILES = $(shell find filters xds-bridge -name '*.proto' -not -path '*/testdata/*' | sort)

.PHONY: all build generate tools check-generated test clean

all: build

build: dist/govoy.so

# One shared object for every Go extension (HTTP chain, network filter, cluster specifier, bridge).
# Always handed to go build: its cache makes an unchanged rebuild cheap, and it knows every imported
# package (filters/ and xds-bridge/client), which a list of prerequisites here would not.
.PHONY: dist/govoy.so
dist/govoy.so:
	@mkdir -p dist
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $@ ./filters/cmd/govoy

tools: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-validate
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-validate:
	GOBIN=$(BIN) $(GO) install github.com/envoyproxy/protoc-gen-validate@$(PGV_VERSION)

# Regenerates every *.pb.go and *.pb.validate.go next to its .proto (protoc from Debian).
generate: tools
	protoc -I . -I $(PGV_DIR) \
	  --plugin=protoc-gen-go=$(BIN)/protoc-gen-go --plugin=protoc-gen-validate=$(BIN)/protoc-gen-validate \
	  --go_out=paths=source_relative:. --validate_out=lang=go,paths=source_relative:. \
	  $(PROTO_FILES)

# Fails when committed generated code differs from what `make generate` produces.
check-generated: generate
	@git diff --exit-code -- '*.pb.go' '*.pb.validate.go' || { echo "generated code is stale: run make generate"; exit 1; }

clean:
	rm -rf dist

# ---- setup / test / run / validate / images (infrastructure) ----
.PHONY: setup test run validate ci image image-xds envoy-version bench-xds bench-rpcproxy

# Installs everything on a Debian 12 machine (idempotent): apt packages, stock Envoy, Go modules, protoc plugins.
setup:
	@bash scripts/setup.sh

# Every test: vet, check-generated, go test ./..., fuzz targets, validator over envoy-configs/.
test:
	@bash scripts/test.sh

# The main job: build dist/govoy.so and run the demo (scripts/run.sh says which).
run:
	@bash scripts/run.sh

# Offline check of Envoy bootstraps that use the govoy filter: make validate CONFIGS="a.yaml b.yaml"
CONFIGS ?= $(sort $(wildcard envoy-configs/*.yaml envoy-configs/*.json))
validate:
	$(GO) run ./filters/cmd/govoy-validate $(CONFIGS)

# What .ci/run does.
ci: setup test

# Images: Envoy contrib + govoy.so, and govoy-xds. The Envoy version comes from go.mod.
IMAGE_REPO ?= govoy
image:
	docker build -f images/envoy/Dockerfile --build-arg ENVOY_VERSION=$(ENVOY_VERSION) -t $(IMAGE_REPO)/envoy:$(ENVOY_VERSION) .
image-xds:
	docker build -f images/xds/Dockerfile -t $(IMAGE_REPO)/xds:$(ENVOY_VERSION) .

# Prints the pinned Envoy version (read by filters/internal/releasecheck).
envoy-version:
	@echo $(ENVOY_VERSION)

# govoy-xds at scale (10k services / 100k endpoints): cold build, RSS, change latency; not in CI.
bench-xds:
	$(GO) build -o $(BIN)/xds-bench ./benchmarks/xds
	$(BIN)/xds-bench -mode bridge -protocol delta -changes 1000
	$(BIN)/xds-bench -mode bridge -protocol sotw -changes 1000
	$(BIN)/xds-bench -mode snapshot -protocol delta -changes 100

# Dubbo load through govoy-rpc (ABI host) vs stock Envoy generic_proxy and tcp_proxy (not CI, ~3 min).
bench-rpcproxy:
	benchmarks/rpcproxy/run.sh
