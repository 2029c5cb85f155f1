# CoachRL developer tasks. `make setup` builds .venv once; every other target uses it.

PY := .venv/bin/python
STAMP := .venv/.installed

export JAX_PLATFORMS ?= cpu
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup test test-slow lint demo validate bench bench-distributed clean

setup: $(STAMP)

# Rebuilt only when the build or the pins change.
$(STAMP): setup.py constraints.txt
	@set -e; \
	if command -v python3.11 >/dev/null 2>&1; then base=python3.11; \
	elif python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then base=python3; \
	else echo "CoachRL needs Python 3.11 (python3.11 or python3 on PATH)" >&2; exit 1; fi; \
	echo ".venv: $$($$base --version)"; \
	$$base -m venv .venv
	.venv/bin/pip install --upgrade pip
	.venv/bin/pip install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The store's tests also run against PostgreSQL and the web app's in Chromium:
# scripts/test_services.sh installs (apt-get) and starts them where it can. With
# COACHRL_REQUIRE_SERVICES=1 (as CI sets) a missing service fails those tests, else skips them.
export COACHRL_TEST_POSTGRES_URL ?= postgresql+psycopg://coachrl:coachrl@127.0.0.1:5432/coachrl_test

test: setup
	bash scripts/test_services.sh
	$(PY) -m pytest -q -m "not slow" -n 2 tests

test-slow: setup
	$(PY) -m pytest -q -m slow tests

lint: setup
	.venv/bin/ruff check $(wildcard coachrl tests scripts launch)

# The demo (`coachrl demo`): a season per archetype, a PPO coach trained for DEMO_MINUTES,
# the coach against every baseline on 200 held-out athletes, then today's plan for a demo
# athlete's 60-day log. runs/demo/coach and runs/demo/coach.db are the demo's own run and store.
DEMO_MINUTES ?= 4
demo: setup
	$(PY) -m coachrl.cli demo --out runs/demo --minutes $(DEMO_MINUTES) --retrain

# The virtual trials (published training studies) on the default world: table, report, forest
# plot in runs/validation; exits 1 when a trial fails. VALIDATE_ATHLETES per arm.
VALIDATE_ATHLETES ?= 200
validate: setup
	$(PY) scripts/validate_world.py --athletes $(VALIDATE_ATHLETES) --out runs/validation

bench: setup
	$(PY) scripts/bench_env.py
	$(PY) scripts/bench_evaluation.py
	$(PY) scripts/bench_train.py

# The distributed trainer with 1, 2 and 4 actors (about 8 minutes: Ray starts 6 times).
bench-distributed: setup
	$(PY) scripts/bench_distributed.py

clean:
	rm -rf .venv runs
