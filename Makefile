# Event Gateway: the two commands of the README and a few helpers.
#   make run    installs what is missing, builds, starts event-gateway --dev
#               (malloc on huge pages: the embedded broker walks its lists of
#               message sets; see "The embedded broker" in README.md)
#   make test   installs what is missing, builds, runs every test (ctest) on a
#               sanitizer build (build-asan/)
#   make build  builds into build/bin/
#   make test-valgrind  unit and end-to-end tests under valgrind (slow; not part of make test)
#   make test-kafka     the end-to-end tests against the Kafka cluster EG_TEST_BROKERS
#   make test-kafka-mock  the same against a stand-in (eg-fault-broker; no Kafka needed)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
TEST_JOBS ?= 2
SAN_DIR ?= build-asan
CC ?= cc

.PHONY: all deps build run test test-plain test-unit test-e2e test-valgrind test-kafka test-kafka-mock \
	bench clean format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: deps $(BUILD_DIR)/CMakeCache.txt
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@echo "Starting event-gateway --dev (Ctrl-C stops it)."
	@echo "  Events API:  http://localhost:4000"
	@echo "  Config API:  http://localhost:4001  (GET /v1/status shows the embedded Kafka's address)"
	@GLIBC_TUNABLES=$${GLIBC_TUNABLES:+$$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1 \
		exec $(BUILD_DIR)/bin/event-gateway --dev $(ARGS)

# The whole suite runs on a build with AddressSanitizer and UBSan (any report
# fails the test that caused it), two tests at a time.
test: build $(SAN_DIR)/CMakeCache.txt
	@cmake --build $(SAN_DIR) -j $(JOBS)
	@cd $(SAN_DIR) && ctest --output-on-failure --timeout 300 -j $(TEST_JOBS) $(CTEST_ARGS)

# The same suite on the plain build.
test-plain: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 300 -j $(TEST_JOBS) $(CTEST_ARGS)

$(SAN_DIR)/CMakeCache.txt:
	@cmake -S . -B $(SAN_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DEG_SANITIZE=ON >/dev/null

test-unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit

test-e2e: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

# The end-to-end suite against an external cluster (README: Testing against a real Kafka):
# every test on a topic prefix of its own; EG_TEST_KAFKA_ARGS adds --kafka settings (TLS, SASL).
test-kafka:
	@if [ -z "$$EG_TEST_BROKERS" ]; then \
		echo "make test-kafka: set EG_TEST_BROKERS=host:port[,host:port...] to the Kafka cluster to test against" \
			"(and EG_TEST_KAFKA_ARGS=\"--kafka PROP=VALUE ...\" for TLS or SASL); see README.md" >&2; \
		exit 2; \
	fi
	@$(MAKE) --no-print-directory build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 300 -j $(TEST_JOBS) -L e2e $(CTEST_ARGS)

# make test-kafka against eg-fault-broker started for the run, stopped by its PID.
test-kafka-mock: build
	@BUILD_DIR=$(BUILD_DIR) bash scripts/test-kafka-mock.sh

# Every unit test and e2e test file under valgrind, one at a time (scripts/valgrind-tests.sh;
# VALGRIND_ARGS="test_sync" or "--unit" narrows it). Reports in $(BUILD_DIR)/valgrind/.
test-valgrind: build
	@BUILD_DIR=$(BUILD_DIR) bash scripts/valgrind-tests.sh $(VALGRIND_ARGS)

bench: build
	@BENCH_SKIP_BUILD=1 BUILD_DIR=$(BUILD_DIR) bash bench/run.sh

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR)

format:
	@clang-format -i core/*.[ch] ingress/*.[ch] router/*.[ch] invoker/*.[ch] gateway/*.c tests/unit/*.c
