# The two commands of the README. Both install what is missing first.
.PHONY: setup demo test lint unit clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/metroshare demo

test: setup
	.venv/bin/ruff check --no-cache .
	.venv/bin/pytest -q

unit: setup
	.venv/bin/pytest -q tests/unit

lint: setup
	.venv/bin/ruff check --no-cache .

clean:
	rm -rf .venv *.egg-info .pytest_cache .ruff_cache
