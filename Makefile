# make demo  — install everything, migrate, seed, serve on http://127.0.0.1:$(PORT)
# make test  — install everything, run the whole suite (uses DATABASE_URL / REDIS_URL when set)
# make bench — the performance suite of bench/ (SCALE=small for a quick run), results in docs/PERFORMANCE.md
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: demo test bench standby venv system-deps lint worker beat services clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

system-deps:
	@bash .ci/system-deps.sh

demo: venv system-deps
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_reconciliation_demo
	$(BIN)/python manage.py run_periodic --force
	@echo "Demo users: specialist, specialist2, lead, lead2, auditor, admin — password: demo"
	@if [ -z "$$REDIS_URL" ]; then \
		echo "No REDIS_URL: the periodic tasks run in-process on their schedule (manage.py run_periodic --loop)"; \
		$(BIN)/python manage.py run_periodic --loop & periodic=$$!; \
		trap "kill $$periodic 2>/dev/null" EXIT INT TERM; \
		$(BIN)/python manage.py runserver 127.0.0.1:$(PORT); \
	else \
		echo "REDIS_URL is set: run 'make services' (Celery worker + beat) in another terminal"; \
		$(BIN)/python manage.py runserver 127.0.0.1:$(PORT); \
	fi

test: venv system-deps
	$(BIN)/ruff check .
	DJANGO_SETTINGS_MODULE=backoffice.settings.production SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		JOURNAL_HMAC_KEYS="check:$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
		$(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

SCALE ?= full
BENCH_ARGS ?=
bench: venv system-deps
	nice $(BIN)/python bench/run.py --scale $(SCALE) $(BENCH_ARGS)

# A streaming standby of the local PostgreSQL on port 5433 (pg_basebackup -R), the read replica of
# DATABASE_REPLICA_URL=postgres://postgres@127.0.0.1:5433/<database>. Needs root; idempotent.
standby:
	bash .ci/standby.sh

worker: venv
	$(BIN)/celery -A backoffice worker --loglevel=INFO --concurrency=2

beat: venv
	$(BIN)/celery -A backoffice beat --loglevel=INFO

services: venv
	$(BIN)/celery -A backoffice worker --beat --loglevel=INFO --concurrency=2

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles
