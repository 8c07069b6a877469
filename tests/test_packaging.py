"""pyproject.toml and environment.yml must list the same dependencies with the same minimum versions."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _parse(spec: str) -> tuple[str, str]:
    """'name>=floor' with an optional ',<cap' and ',!=version' exclusions -> (name, 'floor,<cap,!=x,!=y')."""
    version = r"[0-9][0-9A-Za-z.]*"
    m = re.fullmatch(rf"\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*({version}))?((?:\s*,?\s*(?:!=|<)\s*{version})*)\s*", spec)
    assert m, f"cannot parse dependency {spec!r}: use 'name>=version' (',<version' to cap, ',!=version' to exclude one)"
    cap = re.findall(rf"(?<![!<])<\s*({version})", m.group(3))
    excluded = sorted(re.findall(rf"!=\s*({version})", m.group(3)))
    return m.group(1).lower(), (m.group(2) or "") + "".join(f",<{v}" for v in cap) + \
        "".join(f",!={v}" for v in excluded)


def pyproject_deps(*extras: str) -> dict[str, str]:
    """The core dependencies, plus those of the named extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for e in extras for d in project["optional-dependencies"][e]]
    return dict(_parse(d) for d in specs)


def environment_deps() -> tuple[dict[str, str], str]:
    deps, python = {}, ""
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s*-\s+([^#]+?)\s*(#.*)?$", line)
        if not m or m.group(1).endswith(":") or m.group(1).startswith("-e"):
            continue  # comments, the 'pip:' key, the editable install of the course itself
        name, version = _parse(m.group(1))
        if name == "python":
            python = version
        elif name != "pip":
            deps[CONDA_TO_PYPI.get(name, name)] = version
    return deps, python


def test_environment_yml_matches_pyproject():
    """environment.yml is the whole course: the core plus the [course] and [test] extras."""
    deps, python = environment_deps()
    assert deps == pyproject_deps("course", "test")


def test_python_floor_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    _, python = environment_deps()
    assert project["requires-python"] == f">={python}" == ">=3.11"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


# What the code needs at least, and why: the declared floors may not be lower (they were: Python 3.10
# while tomllib needs 3.11; torch 2.2 while torch.amp.GradScaler needs 2.3; transformers 4.48, never tested).
NEEDS = {
    "python": ("3.11", "tomllib (bert_edu/__main__.py, these tests)"),
    "torch": ("2.3", "torch.amp.GradScaler (bert_edu/train/common.py)"),
    "transformers": ("5.0", "the parity tests run against transformers 5; 4.x is not tested"),
}


def test_declared_minimums_are_what_the_code_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {**pyproject_deps(), "python": project["requires-python"].removeprefix(">=")}
    for name, (needed, why) in NEEDS.items():
        assert _version(declared[name]) >= _version(needed), f"{name}>={declared[name]} is too low: {why}"


def test_the_installed_versions_meet_the_floors():
    """The machine running the tests is a tested configuration: what it runs must satisfy the floors, and
    transformers must be the major the floor names (a newer major would be untested)."""
    import sys
    from importlib import metadata

    deps = pyproject_deps()
    assert sys.version_info[:2] >= _version(NEEDS["python"][0])
    for name in ("torch", "transformers"):
        assert _version(metadata.version(name)) >= _version(deps[name]), name
    assert _version(metadata.version("transformers"))[0] == _version(deps["transformers"])[0]


def test_tokenizers_that_drop_overflowing_windows_are_excluded():
    """tokenizers 0.23.1 and 0.23.2 cut a long question-answering context into too few windows (2 instead of 10
    for SQuAD dev's longest context at 128 tokens, stride 32: huggingface/tokenizers#2091, seen with
    transformers 5.17 on the GPU check); notebook 11 compares its windows with the fast tokenizer's."""
    spec = pyproject_deps()["tokenizers"]
    assert "!=0.23.1" in spec and "!=0.23.2" in spec
    assert _parse("tokenizers!=0.23.2, !=0.23.1") == ("tokenizers", ",!=0.23.1,!=0.23.2")


def test_the_parser_sees_a_difference(tmp_path):
    """The check can fail: drop one dependency and the two lists differ."""
    deps, _ = environment_deps()
    deps.pop("bertviz")
    assert deps != pyproject_deps("course", "test")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert m, "README.md must mark its test command with <!-- test-command -->"
    command = m.group(1).strip()
    assert command in ci, f".ci/run must run the README's test command {command!r}"


def test_transformers_is_capped_below_the_next_major():
    """The installed major must be the tested one (test above): a fresh install must not pick up 6."""
    assert pyproject_deps()["transformers"] == "5.0,<6"
    assert _parse("transformers >= 5.0, < 6") == ("transformers", "5.0,<6")


# What only the notebooks or the tests need: never a core dependency, never imported by `import bert_edu` or the
# command lines' --help (test_core_works_without_the_course_extras).
COURSE_ONLY = {"jupyterlab", "ipykernel", "ipywidgets", "matplotlib", "bertviz", "accelerate"}
TEST_ONLY = {"pytest", "nbval", "seqeval", "nbgrader"}


def test_extras_split_the_course_and_the_tests_from_the_core():
    core, project = pyproject_deps(), tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {name: {_parse(d)[0] for d in specs} for name, specs in project["optional-dependencies"].items()}
    assert extras["course"] == COURSE_ONLY and extras["test"] == TEST_ONLY
    assert not set(core) & (COURSE_ONLY | TEST_ONLY)
    assert {"nbformat", "nbclient"} <= set(core)  # bert-edu student / notebooks / grade use them directly
    # make also installs JupyterLab's Chinese menus for `bert-edu course --lang zh` (the zh extra, nothing else)
    assert extras["zh"] == {"jupyterlab-language-pack-zh-cn"}
    assert 'pip install -e ".[course,test,zh]"' in (ROOT / "Makefile").read_text()
    assert "-e .[course,test]" in (ROOT / "environment.yml").read_text()


# Blocks the course and test extras (and Jupyter's front end) for one process: `sys.modules[name] = None` makes
# `import name` raise ImportError and importlib.util.find_spec(name) return None, as if it were not installed.
BLOCKED = sorted(COURSE_ONLY | TEST_ONLY | {"IPython", "notebook", "jupyter_server", "_pytest"})
CORE_ONLY_SCRIPT = """
import contextlib, io, sys
for name in {blocked!r}:
    sys.modules[name] = None
import bert_edu
from bert_edu.__main__ import available_commands, main
for name in ("BertTokenizer", "BertModel", "BertForPreTraining", "get_device"):
    getattr(bert_edu, name)
commands = available_commands()
for command in sorted(commands):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main([command, "--help"])
        except SystemExit as stop:
            code = stop.code
    assert code in (0, None) and "usage:" in out.getvalue(), (command, code, out.getvalue()[-300:])
# one command that does real work: the student edition of a tiny course (nbformat is core; IPython is not)
import nbformat, tempfile
from pathlib import Path
tmp = Path(tempfile.mkdtemp())
(tmp / "notebooks").mkdir()
cell = nbformat.v4.new_code_cell("%matplotlib inline\\ndef f(x):\\n"
                                 "    ### BEGIN SOLUTION\\n    return x\\n    ### END SOLUTION")
nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp / "notebooks" / "01_t.ipynb")
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["student", str(tmp / "student"), "--notebooks", str(tmp / "notebooks")]) == 0
assert "NotImplementedError" in (tmp / "student" / "01_t.ipynb").read_text()
print("ok", len(commands))
"""


def _run_without(blocked) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CORE_ONLY_SCRIPT.format(blocked=list(blocked))],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_core_works_without_the_course_extras():
    """`import bert_edu` and every `bert-edu <command> --help` work with only the core installed: no top-level
    import of Jupyter, bertviz, matplotlib, accelerate or the test tools in what the command lines load."""
    result = _run_without(BLOCKED)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-3000:]


def test_the_block_is_real():
    """The blocking itself works: a module the core does need (torch) fails to import when blocked."""
    result = _run_without(["torch"])
    assert result.returncode != 0 and "torch" in result.stderr
