# Herald: `make run` starts everything on the embedded default; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: run test install migrate demo lint typecheck check lock bench clean screens

$(BIN)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

install: $(BIN)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_demo_automations
	$(PY) manage.py seed_demo_journeys

# The login is printed again once the web server answers (config/supervise.py banner), below the start-up output.
run: demo
	@echo "Herald on http://127.0.0.1:$${HERALD_PORT:-8000} (web + worker + beat). Ctrl-C stops all three."
	$(BIN)/honcho start -f Procfile.dev

# Tests need PostgreSQL and Redis: DATABASE_URL and REDIS_URL, defaulting to the local servers.
test: install
	DJANGO_SETTINGS_MODULE=config.settings.test \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/pytest $(PYTEST_ARGS)

# Pictures of the main pages for docs/screens/ (tests/browser/test_screens.py, in a headless Chromium).
screens: install
	HERALD_SCREENS_DIR=$(CURDIR)/docs/screens $(MAKE) test PYTEST_ARGS="tests/browser/test_screens.py"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/mypy .

check: lint typecheck test

lock:
	$(PY) -m pip install --quiet -r requirements.in -r requirements-dev.in
	$(PY) -m pip freeze --exclude-editable > requirements.lock

bench: install
	DJANGO_SETTINGS_MODULE=config.settings.test \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_bench} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(PY) -m bench $(BENCH)

clean:
	rm -rf var db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
