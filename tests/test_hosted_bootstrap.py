"""Colab and Kaggle: every notebook's first code cell is the bootstrap cell of bert_edu/course/hosted.py; it does
nothing on an ordinary machine, and on a (simulated) hosted runtime it installs the course from a wheel built from
this checkout, keeps the runtime's torch, and fetches the assets.

What this cannot show: a real Colab or Kaggle runtime (no such runtime is reachable from CI): there, pip installs
from the repository at hosted.RELEASE, which must exist as a tag."""

import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from bert_edu.course import hosted
from bert_edu.data import assets

ROOT = Path(__file__).resolve().parent.parent


def test_every_notebook_starts_with_the_current_bootstrap_cell():
    notebooks = hosted.course_notebooks(ROOT / "notebooks")
    assert notebooks
    assert hosted.out_of_sync(notebooks) == [], "fix: python -m bert_edu.course.hosted sync"


def test_the_check_catches_a_stale_cell(tmp_path):
    import nbformat

    path = tmp_path / "01_x.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01"), nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, path)
    assert hosted.out_of_sync([path]) and hosted.sync([path]) == [path] and hosted.out_of_sync([path]) == []
    cells = nbformat.read(path, as_version=4).cells
    assert [c.source for c in cells[2:]] == ["x = 1"] and len(cells[1].id) == 8  # inserted before, with a new id
    cells_before = nbformat.read(path, as_version=4)
    cells_before.cells[1].source = cells_before.cells[1].source.replace(hosted.RELEASE, "v0.0.0")
    nbformat.write(cells_before, path)
    assert "differs" in hosted.out_of_sync([path])[0]


def test_links_and_install_come_from_one_place():
    assert hosted.install_spec() in hosted.bootstrap_source()
    assert hosted.colab_url("02_embeddings.ipynb") == (
        f"https://colab.research.google.com/github/{hosted.owner_and_name()}/blob/{hosted.RELEASE}/notebooks/02_embeddings.ipynb")
    assert hosted.RELEASE in hosted.kaggle_url("02_embeddings.ipynb")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in hosted.course_notebooks(ROOT / "notebooks"):
        assert hosted.colab_url(path.name) in readme, f"README lacks the Colab link of {path.name}: " \
                                                      "python -m bert_edu.course.hosted links"
        assert hosted.kaggle_url(path.name) in readme


def _run_cell(python: str, env: dict, colab: bool = False) -> subprocess.CompletedProcess:
    prelude = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n" if colab else ""
    return subprocess.run([python, "-c", prelude + hosted.bootstrap_source()], env=env, capture_output=True,
                          text=True, timeout=600)


def _plain_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KAGGLE_KERNEL_RUN_TYPE" and not k.startswith("BERT_EDU_BOOT")}
    env.update(extra)
    return env


def test_elsewhere_the_cell_does_nothing(tmp_path):
    # a spec that cannot install: had the cell called pip, it would fail
    env = _plain_env(BERT_EDU_BOOTSTRAP_SPEC=str(tmp_path / "no-such.whl"), TMPDIR=str(tmp_path))
    start = time.perf_counter()
    proc = _run_cell(sys.executable, env)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    assert time.perf_counter() - start < 5 and not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def hosted_venv(tmp_path_factory):
    """A clean virtual environment with a stand-in for the runtime's torch, and the wheel of this checkout."""
    tmp = tmp_path_factory.mktemp("hosted")
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(ROOT)], check=True, timeout=600)
    (wheel,) = wheels.glob("bert_edu-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "torch").mkdir()
    (Path(site) / "torch" / "__init__.py").write_text('__version__ = "2.99.0+cu999"  # the runtime\'s own build\n')
    return python, wheel, tmp


@pytest.mark.parametrize("runtime", ["kaggle", "colab"])
def test_on_a_hosted_runtime_it_installs_the_course_and_fetches_the_assets(hosted_venv, runtime):
    python, wheel, tmp = hosted_venv
    for name in assets.ASSETS:  # the assets come from this machine's cache: verified, not downloaded again
        if not assets.ASSETS[name].on_request:
            assets.get(name)
    tmpdir = tmp / f"tmp-{runtime}"
    tmpdir.mkdir()
    env = _plain_env(BERT_EDU_BOOTSTRAP_SPEC=str(wheel), TMPDIR=str(tmpdir), PIP_DISABLE_PIP_VERSION_CHECK="1",
                     # no index: pip can only use the wheel, so it cannot replace torch or fetch anything
                     BERT_EDU_BOOTSTRAP_PIP_ARGS="--no-deps --no-index --force-reinstall")
    if runtime == "kaggle":
        env["KAGGLE_KERNEL_RUN_TYPE"] = "Interactive"
    proc = _run_cell(python, env, colab=runtime == "colab")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmpdir / "bert-edu-keep-torch.txt").read_text() == "torch==2.99.0+cu999\n"
    probe = subprocess.run([python, "-c", "import bert_edu, torch, sys; print(bert_edu.__file__); print(torch.__version__)"],
                           capture_output=True, text=True, env=_plain_env(), cwd=tmp)
    where, torch_version = probe.stdout.split()
    assert Path(where).is_relative_to(Path(python).parent.parent), f"bert_edu imported from {where}"
    assert torch_version == "2.99.0+cu999"
    status = subprocess.run([python, "-m", "bert_edu.assets", "status"], capture_output=True, text=True, cwd=tmp)
    assert status.returncode == 0, status.stdout + status.stderr
