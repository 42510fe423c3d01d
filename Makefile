# keygate: `make dev` serves the Worker locally, `make test` runs every test.
# Both install what is missing first, from the package registries only.

# --- Pinned tool versions: the one place to change them. ------------------
# worker-build's major.minor must equal the `worker` crate's (Cargo.toml).
WORKER_BUILD_VERSION := 0.8.7
# Must equal the `wasm-bindgen` version in Cargo.lock (worker-build checks).
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/"/, "", $$3); print $$3}' Cargo.lock)
# npm tools (wrangler, miniflare, binaryen's wasm-opt, esbuild) are pinned
# in package.json and package-lock.json.

TOOLS ?= $(HOME)/.cache/keygate/tools
BIN := $(TOOLS)/bin
NPM_BIN := $(CURDIR)/node_modules/.bin

# worker-build would otherwise download these from GitHub releases.
export WASM_BINDGEN_BIN := $(BIN)/wasm-bindgen
export WASM_OPT_BIN := $(NPM_BIN)/wasm-opt
export ESBUILD_BIN := $(NPM_BIN)/esbuild
# Without this, wrangler/miniflare try to fetch Request.cf from the internet.
export CLOUDFLARE_CF_FETCH_ENABLED := false
export WRANGLER_SEND_METRICS := false

PORT ?= 8787
ORIGIN_LIVE ?= http://127.0.0.1:8788
ORIGIN_TEST ?= http://127.0.0.1:8788
STATE_DIR ?= .wrangler/state

.PHONY: dev dev-check test build install lint test-native test-integration deploy-check deploy clean fuzz bench cli profile

## Install everything missing: wasm target, pinned cargo tools, npm packages.
install: $(BIN)/worker-build-$(WORKER_BUILD_VERSION) $(BIN)/wasm-bindgen-$(WASM_BINDGEN_VERSION) node_modules/.installed
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# Version-stamped markers, so a version bump reinstalls and a rerun skips.
$(BIN)/worker-build-$(WORKER_BUILD_VERSION):
	cargo install --root $(TOOLS) --version $(WORKER_BUILD_VERSION) worker-build
	@touch $@

$(BIN)/wasm-bindgen-$(WASM_BINDGEN_VERSION):
	cargo install --root $(TOOLS) --version $(WASM_BINDGEN_VERSION) wasm-bindgen-cli
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

## Build the Worker (build/index.js + wasm) with the pinned tools. The
## wasm is optimized once, here, not by worker-build (--no-opt): the pass
## re-optimizes for size until nothing changes (--converge), drops the
## name section (keygate maps every error itself, so symbol names would
## only cost cold-start time), and runs under --low-memory-unused: Rust
## lays the 1 MiB stack out first and data above it, so the lowest 1 KiB
## is only ever reached by a stack overflow (~5 KiB gzip less; see
## bench/README.md). Then the static assets: the minified OpenAPI document
## and the dashboard.
WASM_FEATURES := $(addprefix --enable-,mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
build: install
	$(BIN)/worker-build --release --no-opt
	$(WASM_OPT_BIN) $(WASM_FEATURES) --low-memory-unused -Oz --converge --strip-debug --strip-producers build/index_bg.wasm -o build/index_bg.wasm
	@mkdir -p build/assets
	node -e 'const fs = require("fs"); fs.writeFileSync("build/assets/openapi.json", JSON.stringify(JSON.parse(fs.readFileSync("openapi.json", "utf8"))))'
	node dashboard/build.mjs

## Serve locally on workerd with KV and Durable Objects persisted on disk,
## from the one build above (wrangler.toml has no [build] step, so wrangler
## neither rebuilds nor restarts: after changing code, run `make dev` again).
## An environment whose ORIGIN_* you do not give is served by a local echo
## origin standing in for your API (so a test key never hits a dead port).
dev: build
	@test -f .dev.vars || { cp .dev.vars.example .dev.vars && echo "created .dev.vars (dev admin token)"; }
	@echo "keygate on http://127.0.0.1:$(PORT)  (origins: live=$(ORIGIN_LIVE) test=$(ORIGIN_TEST))"
	@echo "dashboard: http://localhost:$(PORT)/_keygate/  (sign in with ADMIN_TOKEN from .dev.vars)"
	@echo "issue a key:"
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/_keygate/v1/keys -H 'Authorization: Bearer $$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)' -H 'Content-Type: application/json' -d '{\"name\":\"my first key\",\"environment\":\"live\"}'"
	@if [ "$(origin ORIGIN_LIVE)" = file ] || [ "$(origin ORIGIN_TEST)" = file ]; then node dev/echo-origin.mjs 8788 & fi; \
	$(NPM_BIN)/wrangler dev --local --test-scheduled --ip 127.0.0.1 --port $(PORT) --persist-to $(STATE_DIR) \
		--var ORIGIN_LIVE:$(ORIGIN_LIVE) --var ORIGIN_TEST:$(ORIGIN_TEST)

## `make dev` as a user starts it: built once, then 90 s of requests with
## no 503 and no restart (see dev/first-minutes.mjs).
dev-check: install
	node dev/first-minutes.mjs

## Debian's Chromium for the browser test (playwright-core drives it; no
## browser is downloaded from anywhere but Debian's package registry).
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM_PATH := $(CHROMIUM)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "Install Chromium and run make with CHROMIUM=/path/to/chromium"; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

## Every test: lint, native core and CLI, integration on workerd (and in
## Chromium), deploy bundle check. One build serves all of them.
test: lint test-native test-integration deploy-check

## fmt and clippy, warnings as errors: natively for the core and the CLI
## (with their tests), for wasm32 for the Worker.
lint: install
	cargo fmt --all --check
	cargo clippy --locked -p keygate-core -p keygate-cli --all-targets -- -D warnings
	cargo clippy --locked -p keygate --target wasm32-unknown-unknown -- -D warnings
	@! cargo tree --locked -p keygate-core --target all -e normal | grep -E ' (worker|web-sys|js-sys|wasm-bindgen) v' || { echo "the core must not depend on Workers crates"; exit 1; }

## The pure core and the CLI, natively.
test-native:
	cargo test --locked -p keygate-core -p keygate-cli

## The command-line tool (cli/), as the integration tests run it.
cli:
	cargo build --locked -p keygate-cli

## The built Worker on workerd (Miniflare), the CLI against it, the
## dashboard in Debian's Chromium.
test-integration: build cli $(CHROMIUM)
	node --test --test-concurrency=1 --test-timeout=600000 tests/

## Property-based fuzzing of the parsers, matchers and limiter: a million
## inputs per target (`make test` runs the same targets with 256 each), and
## the lease simulation for a million steps (`make test`: 400,000).
FUZZ_CASES ?= 1000000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) LEASE_SIM_STEPS=$(FUZZ_CASES) cargo test --locked --release -p keygate-core --lib fuzz_ -- --nocapture

## Benchmarks against a hand-written JS Worker; writes bench/RESULTS.md.
bench: install build bench/wasm-floor/build/index.js
	node bench/run.mjs

## A CPU profile of one request path by function name (bench/profile.mjs;
## PROFILE=leased|exact|malformed|bare|rust). keygate is built into
## target/profile/build with the same optimization as `make build` but the
## name section kept (-g), so wasm frames show by name.
PROFILE ?= leased
profile: install bench/wasm-floor/build/index.js
	$(BIN)/worker-build --release --no-opt --out-dir target/profile/build
	$(WASM_OPT_BIN) $(WASM_FEATURES) --low-memory-unused -Oz --converge -g target/profile/build/index_bg.wasm -o target/profile/build/index_bg.wasm
	PROFILE_ROOT=target/profile PROFILE_OUT=target/profile/$(PROFILE).cpuprofile node bench/profile.mjs $(PROFILE)

# The Rust floor the hot-key rows compare with (see its Cargo.toml).
bench/wasm-floor/build/index.js: bench/wasm-floor/src/lib.rs bench/wasm-floor/Cargo.toml bench/wasm-floor/Cargo.lock
	cd bench/wasm-floor && $(BIN)/worker-build --release

## What `wrangler deploy` would upload, built and validated offline.
deploy-check: build
	$(NPM_BIN)/wrangler deploy --dry-run --outdir dist

## Deploy for real (needs `wrangler login` and the KV id in wrangler.toml).
## Always through make: `wrangler deploy` alone uploads build/ as last built.
deploy: build
	$(NPM_BIN)/wrangler deploy

clean:
	rm -rf build dist target/wasm32-unknown-unknown
