# TPM Skills Lab: the two commands that matter are `make lab` (learners) and `make test` (authors, CI).
# Everything runs inside .venv, created on first use from the system's python3.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Learners get the runtime only (make lab); authors and CI get the test tools on top (make test),
# and the cluster extra (Dask distributed), so the tests of grading on a cluster run too.
RUNTIME_STAMP := $(VENV)/.installed-runtime
PORT   ?= 8888
WORKERS ?= 2
export PATH := $(abspath $(BIN)):$(PATH)

DATA := datasets/orbit.sqlite
DATA_SOURCES := $(wildcard tpmlab/data/*.py tpmlab/data/generate/*.py)
EXERCISES := $(sort $(wildcard exercises/*/*.ipynb))

.PHONY: help lab instructor site test test-fast typecheck nbdime lint format data release assignments grade-demo bench bench-data bench-grading clean venv

help:
	@echo "make lab         set up (first time) and start the course in JupyterLab"
	@echo "make instructor  start JupyterLab as the instructor (formgrader) in autograder/"
	@echo "make site        build the course website into build/site/ (Jupyter Book 2, offline)"
	@echo "make test        set up (first time), lint, type-check and run the whole test suite"
	@echo "make test-fast   the author's loop: lint, type-check and the tests that need no service"
	@echo "make nbdime      show notebook diffs cell by cell in git (nbdime, this clone only)"
	@echo "make lock        refresh the locked versions in requirements/ after editing pyproject.toml"
	@echo "make data        build Orbit's dataset (datasets/orbit.sqlite)"
	@echo "make release     regenerate the student versions in autograder/release/"
	@echo "make bench       run the benchmarks (bench-data, bench-grading)"
	@echo "make clean       remove generated files (keeps your work in assignments/)"

venv: $(STAMP)

# The exact versions CI tested: learners (make lab, Binder's postBuild) install the runtime lock,
# authors and CI (make test) the test lock, which is the runtime lock plus every extra of
# pyproject.toml (the test tools and Dask). The course package itself goes in with --no-deps, so
# nothing outside the lock is installed. tests/test_lock.py fails when a lock and pyproject.toml
# disagree; `make lock` refreshes both.
LOCK_RUNTIME := requirements/lock-runtime.txt
LOCK_TEST    := requirements/lock-test.txt

$(RUNTIME_STAMP): pyproject.toml $(LOCK_RUNTIME)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create a virtual environment. On Debian/Ubuntu run: sudo apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK_RUNTIME)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP) $(LOCK_TEST)
	$(BIN)/python -m pip install --quiet -r $(LOCK_TEST)
	@touch $(STAMP)

# One command after editing pyproject.toml: uv (https://docs.astral.sh/uv/; `pip install uv`)
# re-resolves both locks for Linux, macOS and Windows and Python 3.11 (Binder's), keeping every
# version already locked that pyproject.toml still allows. To move everything to the newest
# releases: delete requirements/lock-*.txt, then `make lock`, then `make test`.
UV ?= uv
LOCK_FLAGS := --universal --python-version 3.11 --quiet

.PHONY: lock
lock:
	@command -v $(UV) >/dev/null 2>&1 || { echo "make lock needs uv: pip install uv (https://docs.astral.sh/uv/)"; exit 1; }
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) -o $(LOCK_RUNTIME)
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) --all-extras -c $(LOCK_RUNTIME) -o $(LOCK_TEST)

# The course website: Jupyter Book 2 (the site extra, in the test lock) on the executed lessons.
# The theme's npm packages (website/book-theme/package-lock.json) are installed once; after that
# the build needs no network. EXECUTE=none skips running the lessons (pages without outputs).
EXECUTE ?= all

site: $(STAMP) $(DATA)
	$(BIN)/python -m tpmlab.website build --execute "$(EXECUTE)"

data: $(DATA)

$(DATA): $(DATA_SOURCES) | $(RUNTIME_STAMP)
	$(BIN)/python -m tpmlab.data build
	$(BIN)/python -m tpmlab.api --prepare

release: $(RUNTIME_STAMP)
	$(BIN)/python -m tpmlab.course release

assignments: $(RUNTIME_STAMP)
	$(BIN)/python -m tpmlab.course sync-assignments

lab: $(RUNTIME_STAMP) $(DATA) assignments
	$(BIN)/python -m tpmlab.course learner-setup
	$(BIN)/python -m tpmlab.course lab --port $(PORT)

instructor: $(RUNTIME_STAMP) $(DATA)
	$(BIN)/python -m tpmlab.course learner-setup
	$(BIN)/python -m tpmlab.course lab --instructor --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/python -m tpmlab.authoring clean course exercises

# The type check covers whole folders, so a new module in tpmlab/grading is checked without an edit.
TYPED := tpmlab/grading tpmlab/scoring.py

typecheck: $(STAMP)
	$(BIN)/mypy $(TYPED)

# --dist loadfile: a file's tests (a notebook's cells) stay on one worker, in order. Not loadgroup:
# pytest-xdist 3.8 marks a group by rewriting item._nodeid, which pytest 9 no longer reads, so the
# groups fall apart and a notebook's cells run on both workers.
PYTEST := TPMLAB_STRICT_TRY_IT=1 $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --durations=15

test: $(STAMP) lint typecheck $(DATA)
	$(PYTEST) $(PYTEST_ARGS) tests course exercises --nbval-lax

# The author's loop: everything but the tests that need a service or a long end-to-end run
# (markers in pyproject.toml; notebooks marked in tests/conftest.py). No browser, no Binder
# rebuild, no bubblewrap sandbox, no PostgreSQL, no key-value server, no JupyterLab server, no
# instructor exchange. Python writes its bytecode caches here even where the environment turns
# them off (PYTHONDONTWRITEBYTECODE): every notebook kernel imports pandas, numpy, matplotlib
# and nbgrader afresh, and compiles them from source each time without it (collecting the suite
# alone took 33 s of CPU instead of 12 s).
FAST_MARKERS := not (browser or binder or sandbox or postgres or kv or server or hub or slow)

# The notebooks the fast loop runs: the lessons and assignments you changed (committed since your
# branch left main, or not committed yet) and new ones. Running all 50 takes most of `make test`'s
# notebook time; `make test-fast NOTEBOOKS="course exercises"` runs every one, and `make test`
# always does.
FAST_BASE := $(shell git merge-base HEAD main 2>/dev/null || echo HEAD)
NOTEBOOKS ?= $(sort $(filter %.ipynb,$(shell git diff --name-only --diff-filter=d $(FAST_BASE) -- course exercises 2>/dev/null; git ls-files --others --exclude-standard -- course exercises 2>/dev/null)))

test-fast: export PYTHONDONTWRITEBYTECODE=
test-fast: $(STAMP) lint typecheck $(DATA)
	@echo "Notebooks run by test-fast: $(if $(strip $(NOTEBOOKS)),$(NOTEBOOKS),none changed)"
	$(PYTEST) $(PYTEST_ARGS) -m "$(FAST_MARKERS)" tests $(NOTEBOOKS) --nbval-lax

# Cell-level notebook diffs and merges in git for this clone: .gitattributes sends *.ipynb to the
# "jupyternotebook" drivers, and this names nbdime's programs in .venv for them (by full path, so
# `git diff` works without activating the venv). `nbdime config-git --enable` does the same with
# the programs looked up on PATH. Undo: git config --remove-section diff.jupyternotebook (and merge.).
nbdime: $(STAMP)
	git config diff.jupyternotebook.command "$(abspath $(BIN))/git-nbdiffdriver diff"
	git config merge.jupyternotebook.driver "$(abspath $(BIN))/git-nbmergedriver merge %O %A %B %L %P"
	git config merge.jupyternotebook.name "jupyter notebook merge driver"

grade-demo: $(RUNTIME_STAMP) $(DATA)
	$(BIN)/python -m tpmlab.grading.demo

bench: bench-data bench-grading

bench-data: $(STAMP)
	$(BIN)/python bench/bench_data.py

# Every assignment (a class of 60 each, sandboxed) and the growth from 60 to 240 submissions: long.
# Parts: make bench-grading BENCH_ARGS="--assignment 00-warmup --students 20 --no-growth"
bench-grading: $(STAMP) $(DATA)
	$(BIN)/python bench/bench_grading.py $(BENCH_ARGS)

clean:
	rm -rf datasets/orbit.sqlite datasets/manifest.json datasets/cache autograder/gradebook.db \
	  autograder/submitted autograder/autograded autograder/feedback autograder/.jupyter \
	  build .pytest_cache test-output
	find . -name __pycache__ -prune -exec rm -rf {} +
	@echo "Removed the built data, grading folders and caches. Kept: your work in assignments/,"
	@echo "the virtual environment .venv (rm -rf .venv to remove it; make lab recreates it) and"
	@echo "Jupyter's settings in .venv/etc. Your notebooks in assignments/ are never removed."
