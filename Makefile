# AgentHub — one non-recursive Makefile.
#
#   make            build every library and binary into $(BUILD)/bin
#   make SAN=1      the same with AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan/
#   make test       install what is missing, build both, run unit + integration + fuzz suites
#   make run        bring the whole system up locally with a demo tenant
#   make bench      benchmarks (figures and ratios)
#   make deps       install Debian packages (root) or print the apt-get line
#   make lint       clang-tidy + cppcheck          make format-check / make format

SAN   ?=
ifeq ($(SAN),1)
BUILD ?= build-asan
else
BUILD ?= build
endif

CC      ?= cc
CSTD     = -std=c11 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-nonliteral
INCS     = -I. -Icommon -Illm -Itools -I/usr/include/postgresql
OPT     ?= -O2
CFLAGS  ?= -g $(OPT)
CFLAGS  += $(CSTD) $(WARN) $(INCS) -MMD -MP -pthread
LDFLAGS += -pthread
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

SYSLIBS = -lrdkafka -lpq -lhiredis -lcurl -ljson-c -ljwt -lcivetweb -lssl -lcrypto -lm -ldl
OCRLIBS = -ltesseract -lleptonica
# libtools holds the OCR tool (tools/ocr.c), reachable from tool_invoke() in any program.
SYSLIBS += $(OCRLIBS)

# The docworker reads PDFs with poppler's GLib API and renders scanned pages with cairo.
POPPLER_CFLAGS := $(shell pkg-config --cflags poppler-glib cairo 2>/dev/null)
POPPLER_LIBS   := $(shell pkg-config --libs poppler-glib cairo 2>/dev/null)
$(BUILD)/obj/agents/docworker/%.o: CFLAGS += $(POPPLER_CFLAGS)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# ---- libraries: one per shared folder --------------------------------------------------
COMMON_SRC = $(wildcard common/*.c)
LLM_SRC    = $(wildcard llm/*.c)
TOOLS_SRC  = $(wildcard tools/*.c)

LIBCOMMON = $(BUILD)/lib/libcommon.a
LIBLLM    = $(BUILD)/lib/libllm.a
LIBTOOLS  = $(BUILD)/lib/libtools.a
ALLLIBS   = $(LIBTOOLS) $(LIBLLM) $(LIBCOMMON)

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
$(LIBLLM):    $(call obj,$(LLM_SRC))
$(LIBTOOLS):  $(call obj,$(TOOLS_SRC))
$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# ---- programs: name, source folder --------------------------------------------------------
# Each program is every .c in its folder, linked against all three libraries.
PROGRAMS = \
  agenthub-ingress:ingress \
  agenthub-router:router \
  agenthub-agent:agents \
  agenthub-docworker:agents/docworker \
  agenthub-migrate:migrations \
  agenthub-devbroker:compose/devbroker \
  agenthubctl:cli \
  agenthub-standin-llm:tests/standin/llm \
  agenthub-standin-erp:tests/standin/erp

BINS :=
define PROGRAM_template
$(1)_SRC := $$(wildcard $(2)/*.c)
ifneq ($$($(1)_SRC),)
BINS += $(BUILD)/bin/$(1)
$(BUILD)/bin/$(1): $$(call obj,$$($(1)_SRC)) $(ALLLIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(call obj,$$($(1)_SRC)) $(ALLLIBS) $(SYSLIBS) $(if $(findstring docworker,$(1)),$(OCRLIBS) $(POPPLER_LIBS))
endif
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_template,$(word 1,$(subst :, ,$(p))),$(word 2,$(subst :, ,$(p))))))

# ---- migrations/*.sql embedded into common/migrate.c (libcommon) by migrations/embed.sh -----
MIGRATION_SQL = $(sort $(wildcard migrations/*.sql))
# The list itself is a prerequisite too: a migration file removed or renamed (no newer file)
# must still regenerate the embedded set. Written while the Makefile is read (every target is
# .SECONDARY, so a rule would not be run for a missing list), and only when the list changed.
MIGRATION_LIST = $(BUILD)/gen/migrations.list
$(shell mkdir -p $(BUILD)/gen && (echo '$(MIGRATION_SQL)' | cmp -s - $(MIGRATION_LIST) || \
  echo '$(MIGRATION_SQL)' > $(MIGRATION_LIST)))
$(BUILD)/gen/migrations_sql.inc: $(MIGRATION_SQL) $(MIGRATION_LIST) migrations/embed.sh
	@mkdir -p $(dir $@)
	sh migrations/embed.sh $(MIGRATION_SQL) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/common/migrate.o: $(BUILD)/gen/migrations_sql.inc
$(BUILD)/obj/common/migrate.o: CFLAGS += -DMIGRATE_EMBED -I$(BUILD)/gen

# ---- tests: each tests/unit/test_*.c and tests/integration/test_*.c is one cmocka binary ---
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
INTEG_SRC = $(wildcard tests/integration/test_*.c)
TEST_BINS = $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC) $(INTEG_SRC))

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(ALLLIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(ALLLIBS) $(SYSLIBS) -lcmocka

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

.DEFAULT_GOAL := all
.SECONDARY:
.PHONY: all tests deps web test test-fast run bench lint format format-check fuzz clean
all: $(BINS)
tests: all $(TEST_BINS)

deps:
	@compose/local/deps.sh

# The web console's static assets (Node.js; the C build does not need it).
web:
	@compose/local/web-build

# The README's test command: installs what is missing (Debian packages; the pinned OpenAI SDKs
# that tests/integration/test_openai_api.py drives, cached outside the clone), builds both
# flavours, runs everything.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps web
	compose/local/openai-sdks >/dev/null
	$(MAKE) -j$(JOBS) tests
	$(MAKE) -j$(JOBS) SAN=1 tests
	tests/run.sh --build build --build-san build-asan

# One flavour only, no install step; for quick local iterations.
test-fast: tests web
	tests/run.sh --build $(BUILD)

run: deps all web
	compose/local/demo

bench: deps all
	tests/bench/run.sh

FUZZ_TARGETS = $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz: $(FUZZ_TARGETS)
# The targets #include the sources they fuzz (tools/, agents/, ingress/, router/) or link them
# (common/, and llm/ and tools/ where named): a change there rebuilds them too.
FUZZ_DEPS = $(COMMON_SRC) $(wildcard tests/fuzz/*.h common/*.h llm/*.[ch] tools/*.[ch] agents/*.[ch] ingress/*.[ch] router/*.[ch])
build-fuzz/fuzz_llm_response: FUZZ_LINK = $(LLM_SRC) $(TOOLS_SRC)
build-fuzz/fuzz_chunk: FUZZ_LINK = $(LLM_SRC) $(TOOLS_SRC)
build-fuzz/fuzz_tool_response: FUZZ_LINK = $(LLM_SRC) $(TOOLS_SRC)
build-fuzz/%: tests/fuzz/%.c $(FUZZ_DEPS)
	@mkdir -p build-fuzz
	clang $(CSTD) $(INCS) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $(COMMON_SRC) $(FUZZ_LINK) $(SYSLIBS)

LINT_SRC = $(COMMON_SRC) $(LLM_SRC) $(TOOLS_SRC) $(foreach p,$(PROGRAMS),$(wildcard $(word 2,$(subst :, ,$(p)))/*.c))
# unknownMacro: cppcheck does not read the system headers, so json-c's
# json_object_object_foreach is unknown to it.
# clang-tidy: the static analyzer and bugprone checks, every finding an error, except
# - valist.Uninitialized: clang 14 calls a va_list uninitialized right after its va_start
#   (cli_usage_error in cli/main.c, env_err in common/envelope.c): false positives;
# - optin.performance.Padding: the layout of structs follows their reading order;
# - narrowing-conversions, implicit-widening-of-multiplication-result: counts and offsets here
#   are bounded far below the limits of their types;
# - not-null-terminated-result: the memcpy it names overwrite the start of a terminated string;
# - easily-swappable-parameters, reserved-identifier: style; DeprecatedOrUnsafeBufferHandling:
#   it asks for Annex K's *_s functions, which glibc does not have;
# - sizeof-expression: clang 14 flags `sizeof *v` for every array of pointers to structs
#   (`struct t **v = malloc(n * sizeof *v)`), the idiom used throughout, and cannot be told not to.
TIDY_CHECKS = -*,clang-analyzer-*,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-clang-analyzer-valist.Uninitialized,-clang-analyzer-optin.performance.Padding,-bugprone-narrowing-conversions,-bugprone-implicit-widening-of-multiplication-result,-bugprone-not-null-terminated-result,-bugprone-sizeof-expression
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem --suppress=unknownMacro -I common -I llm -I tools $(LINT_SRC)
	clang-tidy --quiet --warnings-as-errors='*' -checks='$(TIDY_CHECKS)' \
	  $(LINT_SRC) -- $(CSTD) $(INCS) $(POPPLER_CFLAGS)

FMT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FMT_SRC)
format-check:
	clang-format --dry-run --Werror $(FMT_SRC)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
