# bert-edu: one command to open the course, one to test it. Works from a clean clone.
#   make course      set up .venv, fetch the assets, open JupyterLab on notebooks/
#   make test        set up .venv, fetch the assets, run unit tests + every notebook (nbval)
#   make notebooks   re-execute every notebook in place (what we commit)
#   make student     write the student edition to ./student
#   make gpu-check   on a CUDA GPU: notebooks 07 + 08, BERT-base benchmark, full fine-tuning (<= 8 min)
# TORCH_SPEC picks the torch build: e.g. TORCH_SPEC="torch==2.13.0" (CPU wheel on our CI machines),
# or install a CUDA build first (see README) and leave it empty.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?=
JUPYTER_ARGS ?=
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: setup course test unit notebooks student benchmark gpu-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(if $(TORCH_SPEC),$(PY) -m pip install $(TORCH_SPEC))
	$(PY) -m pip install -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed
	$(PY) -m bert_edu.assets download

course: setup
	$(PY) -m jupyter lab $(JUPYTER_ARGS) notebooks/

test: setup
	$(PY) -m bert_edu.assets download squad   # 358 MB, once: notebook 11 and the QA tests read it
	$(PY) -m pytest -v --durations=0 --nbval-lax --nbval-current-env tests notebooks

unit: setup
	$(PY) -m pytest -q tests -k "not course_notebook"

notebooks: setup
	$(PY) -m bert_edu.course.notebooks execute $(NOTEBOOKS)

student: setup
	$(PY) -m bert_edu.student_edition student

benchmark: setup
	$(PY) benchmarks/bench_inference.py
	$(PY) benchmarks/bench_pretraining.py

# every GPU path in one command (<= 8 min on one CUDA GPU; fails without one): see README, "Check a GPU"
gpu-check: setup
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) student
