"""pyproject.toml and environment.yml must list the same dependencies with the same minimum versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _parse(spec: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?\s*", spec)
    assert m, f"cannot parse dependency {spec!r}: use 'name>=version'"
    return m.group(1).lower(), m.group(2) or ""


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
    assert project["requires-python"] == f">={python}" == ">=3.10"


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
