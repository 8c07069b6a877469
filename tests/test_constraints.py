"""constraints.txt holds the exact versions CI ran; make uses it by default and opens up on request; the floors
in pyproject.toml resolve together (checked by pip's resolver, not by installing old wheels); `bert-edu test`
runs what `make test` runs."""

import json
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][^\s;]*)", line)
        assert m, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[m[1].lower().replace("_", "-")] = m[2]
    return pins


def _requirements() -> list[Requirement]:
    specs = PYPROJECT["dependencies"] + [d for extra in PYPROJECT["optional-dependencies"].values() for d in extra]
    return [Requirement(s) for s in specs]


def test_constraints_pin_every_dependency_within_its_range():
    pins = _pins()
    assert "bert-edu" not in pins, "constraints.txt must not pin the project itself (pip freeze --exclude-editable)"
    assert pins["torch"] == "2.13.0", "CI runs torch 2.13.0"
    for req in _requirements():
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"constraints.txt does not pin {name}, a dependency in pyproject.toml"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req.specifier}"


def _make_n(*args: str) -> str:
    # -B: print the install recipe even where .venv is up to date; -n: print, run nothing
    return subprocess.run(["make", "-n", "-B", ".venv/.installed", *args], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def test_make_installs_with_the_constraints_unless_told_not_to():
    default = [line for line in _make_n().splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert default and all("-c constraints.txt" in line for line in default), default
    opened = [line for line in _make_n("CONSTRAINTS=").splitlines() if "pip install" in line]
    assert opened and not any("-c " in line for line in opened), opened


def _recipe(target: str) -> list[tuple[dict, list[str]]]:
    """A Makefile target's commands as (environment assignments, words), comments left out."""
    body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)[1]
    steps = []
    for line in body.splitlines():
        words = shlex.split(line.split("#")[0])
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words:
            steps.append((env, words))
    return steps


def test_bert_edu_test_runs_what_make_test_runs():
    from bert_edu.course import suite

    def ours(cmds):
        return [(suite.PYTEST_ENV if "pytest" in cmd else {}, ["$(PY)", *cmd[1:]]) for cmd in cmds]

    # make's `test` depends on `setup`, whose last step is the default asset download
    assert ours(suite.commands()) == _recipe("setup")[-1:] + _recipe("test")
    assert ours(suite.commands(unit=True))[-1][1] == _recipe("unit")[-1][1]


def _fake_torch_wheel(folder: Path, version: str) -> Path:
    """A wheel that holds only torch's name and version: the resolver sees torch at its floor without
    fetching a 780 MB wheel (torch's own dependencies are not part of this check)."""
    wheel = folder / f"torch-{version}-py3-none-any.whl"
    info = f"torch-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("torch/__init__.py", "")
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: bert-edu\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


# The Jupyter front end (jupyterlab, ipykernel, ipywidgets) makes pip backtrack for many minutes when every other
# package is free to move, so those floors are checked one by one (that they exist for this Python, with metadata
# today's pip accepts: --no-deps), and the rest are resolved together. seqeval ships only a source archive: it is
# resolved with the others but its build is not run (--only-binary leaves it out; checked with --no-deps).
ALONE = {"jupyterlab", "ipykernel", "ipywidgets", "seqeval", "jupyterlab-language-pack-zh-CN"}


def _floor(req: Requirement) -> str | None:
    for spec in req.specifier:
        if spec.operator == ">=":
            return spec.version
    return None


def test_the_floors_in_pyproject_resolve_together(tmp_path):
    reqs = _requirements()
    floors = {r.name: _floor(r) for r in reqs if _floor(r)}
    _fake_torch_wheel(tmp_path, f"{floors['torch']}+floorcheck")
    constraints = tmp_path / "floors.txt"
    constraints.write_text("".join(f"{name}=={v}{'+floorcheck' if name == 'torch' else ''}\n"
                                   for name, v in floors.items() if name not in ALONE))
    report = tmp_path / "report.json"
    together = [str(r) for r in reqs if r.name not in ALONE]
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--only-binary=:all:", "--find-links", str(tmp_path), "--report", str(report),
                           "-c", str(constraints), *together], capture_output=True, text=True, timeout=900)
    said = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                     if "conflict" in line.lower() or "depends on" in line or "ERROR" in line or "requested" in line)
    assert proc.returncode == 0, f"the floors in pyproject.toml do not resolve together:\n{said}"
    chosen = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    for name, floor in floors.items():
        if name not in ALONE:
            assert Version(Version(chosen[name.lower()]).public) == Version(floor), \
                f"pip chose {name} {chosen[name.lower()]}, not its floor {floor}"

    alone = [f"{r.name}=={floors[r.name]}" for r in reqs if r.name in ALONE and r.name in floors]
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--no-deps", *alone], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "invalid metadata" not in proc.stderr, \
        f"a floor of {alone} cannot be installed:\n{proc.stderr[-2000:]}"


def test_bert_edu_test_says_plainly_that_it_needs_a_clone(monkeypatch, tmp_path, capsys):
    """The wheel carries neither the tests nor the notebooks: outside a clone `bert-edu test` says so (exit 2)."""
    from bert_edu.course import suite

    assert suite.clone_root() == ROOT  # this checkout is a clone
    monkeypatch.setattr(suite, "ROOT", tmp_path / "site-packages")  # where a wheel puts the package
    assert suite.main([]) == 2
    err = capsys.readouterr().err
    assert "needs a clone of the repository" in err and len(err.strip().splitlines()) == 1
