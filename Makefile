# Event Gateway: the two commands of the README and a few helpers.
#   make run    installs what is missing, builds, starts the project's Apache Kafka
#               (scripts/kafka.sh, data in .kafka/) and event-gateway on it
#   make test   installs what is missing, builds, runs every test on a sanitizer
#               build (build-asan/): the unit tests, the end-to-end tests on the
#               embedded broker, then the end-to-end tests on a real Kafka
#   make dev    event-gateway --dev: the embedded broker, nothing else needed
#               (malloc on huge pages: the embedded broker walks its lists of
#               message sets; see docs/dev-mode.md)
#   make kafka / make kafka-stop  the project's Apache Kafka (KAFKA_NODES=3: three nodes)
#   make build  builds into build/bin/
#   make format / make format-check  clang-format the C sources / check them (make test does)
#   make test-valgrind  unit and end-to-end tests under valgrind (slow; not part of make test)
#   make test-kafka     the end-to-end tests on a real Kafka: EG_TEST_BROKERS, or a
#                       cluster of the project's started for the run
#   make test-kafka-mock  the same against a stand-in (eg-fault-broker; no Kafka needed)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
TEST_JOBS ?= 2
SAN_DIR ?= build-asan
CC ?= cc

.PHONY: all deps build run dev kafka kafka-stop format format-check test test-mock test-plain test-unit test-e2e \
	test-valgrind test-kafka test-kafka-mock bench bench-kafka clean format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: deps $(BUILD_DIR)/CMakeCache.txt
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build kafka
	@echo "Starting event-gateway on the local Apache Kafka (Ctrl-C stops it; make kafka-stop stops Kafka)."
	@echo "  Events API:  http://localhost:4000"
	@echo "  Config API:  http://localhost:4001"
	@echo "  Functions on this host (loopback) may be called: EG_FUNCTION_ALLOW_CIDRS=$${EG_FUNCTION_ALLOW_CIDRS:-127.0.0.0/8,::1/128}"
	@EG_FUNCTION_ALLOW_CIDRS=$${EG_FUNCTION_ALLOW_CIDRS:-127.0.0.0/8,::1/128} \
		exec $(BUILD_DIR)/bin/event-gateway --brokers $$(bash scripts/kafka.sh brokers) $(ARGS)

dev: build
	@echo "Starting event-gateway --dev (embedded broker, in memory; Ctrl-C stops it)."
	@echo "  Events API:  http://localhost:4000"
	@echo "  Config API:  http://localhost:4001  (GET /v1/status shows the embedded Kafka's address)"
	@GLIBC_TUNABLES=$${GLIBC_TUNABLES:+$$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1 \
		exec $(BUILD_DIR)/bin/event-gateway --dev $(ARGS)

kafka: deps
	@bash scripts/kafka.sh start

kafka-stop:
	@bash scripts/kafka.sh stop

# The whole suite runs on a build with AddressSanitizer and UBSan (any report
# fails the test that caused it), two tests at a time: first everything on the
# embedded broker, then the end-to-end tests on a real Kafka of the project's.
test: format-check test-mock
	@BUILD_DIR=$(SAN_DIR) TEST_JOBS=$(TEST_JOBS) CTEST_ARGS="$(CTEST_ARGS)" bash scripts/test-kafka.sh

test-mock: build $(SAN_DIR)/CMakeCache.txt
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

# The end-to-end suite on a real Kafka (docs/testing.md: The real-Kafka suite):
# EG_TEST_BROKERS when set, else a cluster of the project's (scripts/kafka.sh)
# started for the run in $(BUILD_DIR)/kafka-test and stopped after it. Every
# test runs on a topic prefix of its own; EG_TEST_KAFKA_ARGS adds --kafka
# settings (TLS, SASL).
test-kafka: build
	@BUILD_DIR=$(BUILD_DIR) TEST_JOBS=$(TEST_JOBS) CTEST_ARGS="$(CTEST_ARGS)" bash scripts/test-kafka.sh

# make test-kafka against eg-fault-broker started for the run, stopped by its PID.
test-kafka-mock: build
	@BUILD_DIR=$(BUILD_DIR) bash scripts/test-kafka-mock.sh

# Every unit test and e2e test file under valgrind, one at a time (scripts/valgrind-tests.sh;
# VALGRIND_ARGS="test_sync" or "--unit" narrows it). Reports in $(BUILD_DIR)/valgrind/.
test-valgrind: build
	@BUILD_DIR=$(BUILD_DIR) bash scripts/valgrind-tests.sh $(VALGRIND_ARGS)

bench: build
	@BENCH_SKIP_BUILD=1 BUILD_DIR=$(BUILD_DIR) bash bench/run.sh

# Issue 18's whole harness on the project's Apache Kafka (one node, started
# for each script): ingest and end to end, the sync round trip, then fan-out,
# invoker scaling, configuration scale and resources; ~6 min, three tables.
bench-kafka: build
	@BENCH_SKIP_BUILD=1 BUILD_DIR=$(BUILD_DIR) bash bench/run.sh --kafka
	@BENCH_SKIP_BUILD=1 BUILD_DIR=$(BUILD_DIR) bash bench/sync.sh --kafka
	@BENCH_SKIP_BUILD=1 BUILD_DIR=$(BUILD_DIR) bash bench/scale.sh --kafka

# Issue 18's scale figures on the same Kafka: fan-out, invoker scaling,
# configuration scale, resources (bench/scale.sh; --mock without Kafka).
.PHONY: bench-scale
bench-scale: build
	@BENCH_SKIP_BUILD=1 BUILD_DIR=$(BUILD_DIR) bash bench/scale.sh --kafka

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR)

# The C sources clang-format keeps (.clang-format): make format rewrites them,
# make format-check (the first step of make test) fails on any difference and
# on a line longer than the column limit that clang-format could not break.
C_SOURCES = $(wildcard core/*.[ch] ingress/*.[ch] router/*.[ch] invoker/*.[ch] gateway/*.c \
	tests/unit/*.c tests/fuzz/*.[ch] tests/tools/*.c bench/*.c)

format:
	@clang-format -i $(C_SOURCES)

format-check: deps
	@clang-format --dry-run -Werror $(C_SOURCES)
	@limit=$$(sed -n 's/^ColumnLimit: *//p' .clang-format); \
	 awk -v n="$$limit" 'length($$0) > n { print FILENAME ":" FNR ": longer than " n " columns"; bad = 1 } \
	     END { exit bad }' $(C_SOURCES)
