# Heck: `make run` starts one node on the defaults; `make test` installs what the tests need and runs them.
NODE_MODULES := node_modules/.installed

.PHONY: install build run test test-unit coverage bench bench-membership bench-replication bench-probing bench-cluster soak clean deps

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES)

# dist/ is rebuilt from scratch so a renamed or deleted test never lingers there.
build: install
	rm -rf dist
	npx tsc -p .

run: build
	./bin/heck-server $(ARGS)

# System tools the integration tests and benchmarks drive (redis-cli, redis-benchmark, redis-server).
deps:
	@command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null && command -v redis-server >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools redis-server >/dev/null)

# TAP for the record, then the failures again at the very end, where a truncated CI log still shows them.
TEST_REPORTERS := --test-reporter=tap --test-reporter-destination=stdout \
	--test-reporter=./dist/test/helpers/failures-reporter.js --test-reporter-destination=stdout

test: deps build
	node --test --test-concurrency=2 $(TEST_REPORTERS) $$(find dist/test -name '*.test.js' | sort)

test-unit: build
	node --test $$(find dist/test/unit dist/test/property -name '*.test.js' | sort)

coverage: deps build
	npx c8 --reporter=text-summary node --test $$(find dist/test -name '*.test.js' | sort)

bench: deps build
	node dist/bench/resp.js
	node dist/bench/membership.js
	node dist/bench/replication.js
	node dist/bench/probing.js
	node dist/bench/cluster.js

# Membership only (simulator, real Heck processes, memberlist anchor); ARGS=--quick for the short run.
bench-membership: build
	node dist/bench/membership.js $(ARGS)

# Replication only (propagation on real processes and in the simulator, anti-entropy bytes,
# durable HECK.ADDORIGIN vs redis appendfsync always); ARGS=--quick for the short run.
bench-replication: deps build
	node dist/bench/replication.js $(ARGS)

# Probing only (one node against a local origin farm at 10k and 100k origins, ownership
# recomputation, probes per origin per interval on 3 and 5 nodes); ARGS=--quick for the short run.
bench-probing: build
	node dist/bench/probing.js $(ARGS)

# Chaos on 5 real nodes (kill -9, SIGSTOP, restarts, join, leave, partition, clock skew), judged from
# the origins' side; ARGS=--quick for the short run, ARGS="--seed N" to replay one.
bench-cluster: build
	node dist/bench/cluster.js $(ARGS)

# The same scenarios drawn at random for 30 minutes (the seed is printed; SOAK_MINUTES to change).
SOAK_MINUTES ?= 30
soak: build
	node dist/bench/cluster.js --soak $(SOAK_MINUTES) $(ARGS)

clean:
	rm -rf dist coverage
