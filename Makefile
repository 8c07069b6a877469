# bert-edu: one command to open the course, one to test it. Works from a clean clone.
#   make course      set up .venv, fetch the assets, open JupyterLab on the exercise edition in student/
#                    (built when missing; a learner's edited notebook is never overwritten)
#   make course-solutions  the same on the reference notebooks/ (every solution filled in)
#   make test        set up .venv, fetch the assets, run unit tests + every notebook (nbval)
#   make notebooks   re-execute every notebook in place (what we commit)
#   make student     write the student edition to ./student
#   make book        the executed course as a static site in ./book (+ book.zip), offline
#   make gpu-check   on a CUDA GPU: smoke suite, notebooks, BERT-base benchmark, full fine-tuning (<= 35 min)
# TORCH_SPEC picks the torch build: e.g. TORCH_SPEC="torch==2.13.0" (CPU wheel on our CI machines),
# or install a CUDA build first (see README) and leave it empty.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?=
# the exact versions CI ran (constraints.txt); CONSTRAINTS= (empty) opens them up to the newest releases
CONSTRAINTS ?= constraints.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
JUPYTER_ARGS ?=
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: setup course course-solutions test unit notebooks book student benchmark gpu-check clean

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(if $(TORCH_SPEC),$(PY) -m pip install $(PIP_C) $(TORCH_SPEC))
	$(PY) -m pip install -e ".[course,test,zh]" $(PIP_C)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed
	$(PY) -m bert_edu.assets download

course: setup
	$(PY) -m bert_edu course $(JUPYTER_ARGS)

course-solutions: setup
	$(PY) -m bert_edu course --solutions $(JUPYTER_ARGS)

test: setup
	$(PY) -m bert_edu.assets download chinese_reviews   # 38 MB, once: notebook 13 and its tests read it
	# BERT_EDU_SMOKE unset: the solution notebooks run the real recipe (the student-edition test sets it itself)
	BERT_EDU_SMOKE= $(PY) -m pytest -v --durations=20 --nbval-lax --nbval-current-env tests notebooks

unit: setup
	$(PY) -m pytest -q tests -k "not course_notebook"

# the English notebooks, then the Chinese edition built from them and run in Chinese (its checkers speak Chinese)
notebooks: setup
	$(PY) -m bert_edu.course.notebooks execute $(NOTEBOOKS)
	$(PY) -m bert_edu translate build
	$(PY) -m bert_edu.course.notebooks execute notebooks/zh/[0-9]*.ipynb

# the executed course as a static site (book/) and book.zip; no notebook is re-executed
book: setup
	$(PY) -m bert_edu.course.book --out book

student: setup
	$(PY) -m bert_edu.student_edition student

benchmark: setup
	$(PY) benchmarks/bench_inference.py
	$(PY) benchmarks/bench_pretraining.py

# every GPU path in one command (<= 35 min on one CUDA GPU, 7 steps; --steps for a subset; fails without one): see README, "Check a GPU"
gpu-check: setup
	$(PY) benchmarks/gpu_check.py

# student/ holds the learner's work: `make clean` never deletes it
clean:
	rm -rf $(VENV) book book.zip test-artifacts
