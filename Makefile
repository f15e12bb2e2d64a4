# Everything runs inside .venv, created on first use from requirements-dev.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-robust demo bench lint data base clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps "tinysoundfont==0.3.7"  # audio; see requirements.txt
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -rs -m "not robust"

test-robust: $(STAMP)
	$(PY) -m pytest -q -rs -m robust

demo: $(STAMP)
	$(PY) train.py --preset small --max-minutes 3 --run-name demo-$$(date +%Y%m%d-%H%M%S)
	$(PY) generate_music.py --out output/demo.mid --wav --png

bench: $(STAMP)
	$(PY) benchmarks/run.py

lint: $(STAMP)
	$(PY) -m ruff check .

data: $(STAMP)
	$(PY) scripts/export_midi_songs.py --out midi_songs --ensembles-out midi_ensembles

base: $(STAMP)  # the shipped base model: export the pretraining collection, train, store in float16
	$(PY) scripts/build_base.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
