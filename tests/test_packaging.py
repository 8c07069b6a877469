"""pyproject.toml and environment.yml must list the same dependencies with the same minimum versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _parse(spec: str) -> tuple[str, str]:
    """'name>=floor' with optional ',!=version' exclusions -> (name, 'floor,!=x,!=y')."""
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?((?:\s*,?\s*!=\s*[0-9][0-9A-Za-z.]*)*)\s*",
                     spec)
    assert m, f"cannot parse dependency {spec!r}: use 'name>=version' (and ',!=version' to exclude one)"
    excluded = sorted(re.findall(r"!=\s*([0-9][0-9A-Za-z.]*)", m.group(3)))
    return m.group(1).lower(), (m.group(2) or "") + "".join(f",!={v}" for v in excluded)


def pyproject_deps() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(_parse(d) for d in project["dependencies"])


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
    deps, python = environment_deps()
    assert deps == pyproject_deps()


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
    assert deps != pyproject_deps()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert m, "README.md must mark its test command with <!-- test-command -->"
    command = m.group(1).strip()
    assert command in ci, f".ci/run must run the README's test command {command!r}"
