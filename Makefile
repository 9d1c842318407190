# qworker developer tasks. `make test` works on a fresh machine: it creates .venv and installs
# everything the tests need (the core, both backend packages, test tools).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser test lint format demo bench fuzz reliability screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "qworker needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Debian's Chromium for the console's browser tests (Playwright drives it by path; its own
## `playwright install` cannot download browsers here). Skipped where apt-get is unavailable:
## those tests then skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		{ command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		  apt-get update -q && apt-get install -y -q chromium; } || \
		echo "chromium not installed: the console's browser tests will skip"

## lint, then the whole test suite (what CI runs); tests mostly wait on timeouts and servers, so
## they run in one process per core (pytest-xdist); plain `pytest` runs them in one process
test: install browser
	$(BIN)/ruff check .
	$(BIN)/pytest -n auto --dist worksteal

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## the quick start on the embedded SQLite default
demo: install
	bash examples/demo.sh

## qworker beside arq, saq, dramatiq, rq, celery, taskiq, huey (`python -m benchmarks setup` once first)
bench: install
	$(BIN)/python -m benchmarks

## the fuzz campaign's long run: every decoder and parser for FUZZ_SECONDS each (figures to
## $$QWORKER_FIGURES when set); the short run is tests/reliability/test_fuzz.py, in `make test`
FUZZ_SECONDS ?= 60
fuzz: install
	$(BIN)/python -m tests.reliability.fuzz --seconds $(FUZZ_SECONDS)

## the reliability battery with its figures, a 3-minute soak and the fuzz campaign, then
## RELIABILITY.md's "Measured figures" written from what they measured
FIGURES := $(CURDIR)/.reliability-figures.jsonl
reliability: install
	rm -f $(FIGURES)
	QWORKER_FIGURES=$(FIGURES) $(BIN)/pytest -n auto --dist worksteal -p no:cacheprovider -q \
		tests/reliability backends/sqlite/tests/test_sqlite_clock.py tests/runtime/test_lifecycle.py
	QWORKER_FIGURES=$(FIGURES) $(BIN)/python -m tests.reliability.soak --minutes 3 --warmup 1
	QWORKER_FIGURES=$(FIGURES) $(BIN)/python -m tests.reliability.fuzz --seconds $(FUZZ_SECONDS)
	$(BIN)/python -m tests.reliability.report $(FIGURES) --command "make reliability"

## the console screenshots the README shows, taken by its browser tests
screenshots: install browser
	QWORKER_SCREENSHOTS=1 $(BIN)/pytest -p no:cacheprovider -q tests/console/test_console_browser.py -k "overview_shows or queue_page_shows"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
