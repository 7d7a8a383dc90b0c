# Two commands: `make run` (the service with demo data on SQLite) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
# The PostgreSQL server the second half of the tests uses (a fresh database is created on it).
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
# Set REQUIRE_POSTGRES=1 (CI does) to fail instead of skipping the PostgreSQL half.
REQUIRE_POSTGRES ?= 0
# Redis for the shared rate-limit test (database 15 is flushed by it).
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
REDIS_UP = $(shell $(BIN)/python -c "import redis; redis.Redis.from_url('$(TEST_REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null && echo yes)

.PHONY: run test test-sqlite test-postgres lint format bench venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The Procfile's web and worker processes under honcho: one Ctrl-C stops both.
run: venv
	FEEDBACK_ENV=development $(BIN)/flask --app wsgi db upgrade
	FEEDBACK_ENV=development BASE_URL=http://$(HOST):$(PORT) $(BIN)/flask --app wsgi feedback demo
	@echo "Serving on http://$(HOST):$(PORT) with a worker; without SMTP_URL emails go to Delivery > Mailbox (Ctrl-C stops both)"
	PATH=$(CURDIR)/$(BIN):$$PATH FEEDBACK_ENV=development BASE_URL=http://$(HOST):$(PORT) \
		GUNICORN_BIND=$(HOST):$(PORT) WEB_CONCURRENCY=$(WORKERS) \
		$(BIN)/honcho start

test: lint test-sqlite test-postgres

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test-sqlite: venv
	@echo "== tests on SQLite"
	@command -v chromium >/dev/null || echo "NOTE: no chromium installed: the browser tests are skipped (apt-get install chromium)."
	@[ "$(REDIS_UP)" = yes ] || echo "NOTE: Redis at $(TEST_REDIS_URL) does not answer: the shared rate-limit test is skipped."
	env -u TEST_DATABASE_URL $(if $(REDIS_UP),TEST_REDIS_URL='$(TEST_REDIS_URL)',-u TEST_REDIS_URL) $(BIN)/python -m pytest

test-postgres: venv
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(TEST_POSTGRES_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		echo "== tests on PostgreSQL ($(TEST_POSTGRES_URL))"; \
		TEST_DATABASE_URL='$(TEST_POSTGRES_URL)' $(if $(REDIS_UP),TEST_REDIS_URL='$(TEST_REDIS_URL)',) $(BIN)/python -m pytest; \
	elif [ "$(REQUIRE_POSTGRES)" = "1" ]; then \
		echo "PostgreSQL at $(TEST_POSTGRES_URL) does not answer, and REQUIRE_POSTGRES=1"; exit 1; \
	else \
		echo "NOTE: PostgreSQL at $(TEST_POSTGRES_URL) does not answer: the PostgreSQL half of the tests was NOT run."; \
	fi

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(BIN)/python bench/submit.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
