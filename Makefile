# The two commands the README promises:
#   make run    start the service on :8000 (creates .venv if needed)
#   make test   every test and linter (what .ci/run calls)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
BIN := $(VENV)/bin
# pytest-xdist: the suite on every core, up to 4 (each worker starts its own local servers).
PARALLEL := -n auto --maxprocesses 4

.PHONY: run test venv tools lint test-py test-other-pythons check-cloudformation test-image lint-workflows \
        bench bench-smoke lock diagram deploy-infra release clean openapi

# The settings are checked first without Gunicorn, which parses WEB_CONCURRENCY when imported and
# answers a non-number with a traceback.
run:
	@bash scripts/bootstrap.sh run
	@$(BIN)/python gunicorn.conf.py
	exec $(BIN)/gunicorn -c gunicorn.conf.py

test: venv tools lint check-cloudformation test-py test-other-pythons test-image bench-smoke
	@echo "make test: every test and linter passed"

venv:
	@bash scripts/bootstrap.sh dev

tools:
	@bash scripts/bootstrap.sh tools

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint --failure-threshold warning Dockerfile
	$(BIN)/shellcheck scripts/*.sh bench/*.sh .ci/run
	bash scripts/lint-workflows.sh

check-cloudformation: venv tools
	bash scripts/check-cloudformation.sh

# The image's checks and their docker-CLI run belong to test-image: they need the container it
# starts, and the second reuses its base and cache. The browser tests need chromium (apt, as root)
# or Google Chrome.
test-py: venv
	bash scripts/install-browser.sh
	$(BIN)/pytest $(PARALLEL) --ignore=tests/image/test_running_image.py --ignore=tests/image/test_image_test_docker_cli.py

# Rewrite docs/openapi.json from the served document after an API change (refused if breaking
# without a major version bump in setup.cfg); review its diff.
openapi: venv
	OPENAPI_UPDATE=1 $(BIN)/pytest -q -p no:cacheprovider tests/service/test_openapi.py

# The image runs Python 3.14: the service's tests run on it too, and the unit tests on 3.12 and
# 3.13 (setup.cfg's range is 3.11-3.14); a missing one is fetched or skipped (the script says which).
test-other-pythons:
	PYTEST_ADDOPTS="$(PARALLEL)" bash scripts/test-other-python.sh 3.14
	bash scripts/test-other-python.sh 3.12 tests/service
	bash scripts/test-other-python.sh 3.13 tests/service

# Docker, rootless podman, or (as root) the rootful podman stand-in; skipped with its reason
# where none can run (a failure under REQUIRE_ALL_CHECKS=1). Then the same checks through a docker CLI.
test-image: venv
	bash scripts/image-test.sh
	$(BIN)/pytest -q -p no:cacheprovider tests/image/test_image_test_docker_cli.py

# bench/run.sh apt-installs wrk when it is missing, which needs root.
bench-smoke:
	@if command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; }; then \
	  bash bench/run.sh --smoke; \
	else \
	  bash scripts/skip-or-fail.sh bench-smoke "wrk is not installed and installing it needs root (apt-get install wrk)"; \
	fi

bench:
	bash bench/run.sh

# Re-resolve the pinned versions after changing setup.cfg.
lock:
	uv pip compile --quiet --universal --python-version 3.11 setup.cfg --extra dev -o constraints.txt
	uv pip compile --quiet --universal --python-version 3.11 setup.cfg --extra checkov -o .ci/constraints-checkov.txt
	uv pip compile --quiet --universal --python-version 3.11 setup.cfg --extra taskcat -o .ci/constraints-taskcat.txt
	uv pip compile --quiet --universal --python-version 3.11 setup.cfg --extra bench -c constraints.txt -o .ci/constraints-bench.txt

diagram:
	bash scripts/diagram.sh

# Extra flags through ARGS, e.g. make deploy-infra ARGS='--image-tag abc1234 --dry-run'
deploy-infra:
	bash scripts/deploy-infra.sh $(ARGS)

release:
	bash scripts/release.sh $(ARGS)

clean:
	rm -rf .venv .venv-* .pytest_cache .ruff_cache bench/results taskcat_outputs
