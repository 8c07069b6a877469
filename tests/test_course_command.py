"""The README's course command: `make course` / `bert-edu course` builds the exercise edition into student/ and opens
JupyterLab there, never overwriting a learner's work; `--solutions` opens the reference notebooks; `--print-folder`
builds and prints the folder; the course's JupyterLab has the news prompt off (issue 25)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from bert_edu.course import launch
from bert_edu.course import student_edition as se

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory):
    """The working tree as a fresh clone would have it: every tracked and untracked-but-not-ignored file (a clone
    of the last commit would miss work not committed yet), without student/ or any other ignored output."""
    assert shutil.which("git"), "git is needed to list the repository's files"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    copy = tmp_path_factory.mktemp("clone") / "bert-edu"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    assert not (copy / "student").exists()
    return copy


def course(copy: Path, *args: str) -> list[str]:
    """`bert-edu course ARGS` run from the copy (python -m puts the copy's bert_edu first on the path)."""
    done = subprocess.run([sys.executable, "-m", "bert_edu", "course", *args], cwd=copy, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(copy)))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def notebooks_with_exercises(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("[0-9]*.ipynb")
                  if any(c.cell_type == "code" and se.BEGIN in c.source for c in nbformat.read(p, as_version=4).cells))


def test_print_folder_builds_the_exercise_edition_and_never_overwrites_a_learners_work(fresh_copy):
    lines = course(fresh_copy, "--print-folder")
    student = Path(lines[-1])
    assert student == (fresh_copy / "student").resolve(), lines
    with_exercises = notebooks_with_exercises(fresh_copy / "notebooks")
    assert len(with_exercises) >= 10, with_exercises
    for name in with_exercises:
        text = (student / name).read_text(encoding="utf-8")
        assert "raise NotImplementedError()" in text, f"student/{name} has no stub region"
        assert se.BEGIN not in text, f"student/{name} still holds a solution"

    # the learner edits 07; the course then changes 07 (edited: kept, new version beside it) and 02 (not edited:
    # updated in place)
    learner_07 = student / "07_pretraining.ipynb"
    nb = nbformat.read(learner_07, as_version=4)
    nb.cells[0].source += "\n\nMy notes: the loop is the hard part."
    nbformat.write(nb, learner_07)
    edited = learner_07.read_bytes()
    assert course(fresh_copy, "--print-folder")[-1] == str(student)
    assert learner_07.read_bytes() == edited, "a second run changed the learner's edited notebook"
    assert not (student / "07_pretraining.new.ipynb").exists(), "no upstream change, yet a .new copy was written"

    for name, note in (("07_pretraining.ipynb", "An upstream change."), ("02_embeddings.ipynb", "Another one.")):
        upstream = nbformat.read(fresh_copy / "notebooks" / name, as_version=4)
        upstream.cells.append(nbformat.v4.new_markdown_cell(note))
        nbformat.write(upstream, fresh_copy / "notebooks" / name)
    lines = course(fresh_copy, "--print-folder")
    assert learner_07.read_bytes() == edited, "an upstream change overwrote the learner's edited notebook"
    beside = student / "07_pretraining.new.ipynb"
    assert beside.is_file() and "An upstream change." in beside.read_text(encoding="utf-8")
    said = [line for line in lines if "07_pretraining.new.ipynb" in line]
    assert len(said) == 1 and "07_pretraining.ipynb" in said[0], lines
    assert "Another one." in (student / "02_embeddings.ipynb").read_text(encoding="utf-8"), \
        "a notebook the learner never edited was not brought up to date"
    assert not (student / "02_embeddings.new.ipynb").exists()
    assert lines[-1] == str(student)


def test_lang_zh_opens_the_chinese_exercise_edition_beside_the_english_one(fresh_copy):
    """`bert-edu course --lang zh`: the Chinese edition's exercise edition in student/zh/ (the English one in
    student/, whose figures/ the Chinese pages show), Chinese answer prompts and README, no solution left."""
    lines = course(fresh_copy, "--lang", "zh", "--print-folder")
    zh = Path(lines[-1])
    assert zh == (fresh_copy / "student" / "zh").resolve(), lines
    chinese = sorted(p.name for p in (fresh_copy / "notebooks" / "zh").glob("[0-9]*.ipynb"))
    assert len(chinese) == 14, chinese
    assert sorted(p.name for p in zh.glob("[0-9]*.ipynb")) == chinese
    for name in notebooks_with_exercises(fresh_copy / "notebooks" / "zh"):
        text = (zh / name).read_text(encoding="utf-8")
        assert "raise NotImplementedError()" in text and se.BEGIN not in text, name
    prompts = sum((zh / n).read_text(encoding="utf-8").count("在这里写你的答案") for n in chinese)
    assert prompts >= 5 and "Your answer here" not in "".join((zh / n).read_text(encoding="utf-8") for n in chinese)
    assert (zh / "README.md").read_text(encoding="utf-8").startswith("# 从零构建 BERT")
    assert (fresh_copy / "student" / "figures").is_dir() and (fresh_copy / "student" / "07_pretraining.ipynb").is_file()
    refused = subprocess.run([sys.executable, "-m", "bert_edu", "course", "--lang", "fr", "--print-folder"],
                             cwd=fresh_copy, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(fresh_copy)))
    assert refused.returncode == 2 and refused.stderr.startswith("error: --lang fr"), refused.stderr


@pytest.mark.parametrize("pack", [True, False], ids=["language-pack", "no-language-pack"])
def test_lang_zh_starts_jupyterlab_in_the_chinese_folder_with_chinese_menus(pack, tmp_path, monkeypatch):
    """Chinese menus when JupyterLab's language pack (the [zh] extra, which make setup installs) is there; without
    it the course still opens in Chinese, with JupyterLab's own menus in English."""
    monkeypatch.setattr(launch, "zh_language_pack_installed", lambda: pack)
    cmd = launch.lab_command(tmp_path, [], is_root=False, lang="zh", start_in="zh")
    assert "--FileContentsManager.preferred_dir=zh" in cmd
    settings = Path(next(a for a in cmd if a.startswith("--LabApp.app_settings_dir=")).split("=", 1)[1])
    overrides = json.loads((settings / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    if not pack:
        assert "@jupyterlab/translation-extension:plugin" not in overrides
        return
    assert overrides["@jupyterlab/translation-extension:plugin"]["locale"] == "zh_CN"
    english = launch.lab_command(tmp_path, [], is_root=False)
    english_settings = Path(next(a for a in english if a.startswith("--LabApp.app_settings_dir=")).split("=", 1)[1])
    assert "@jupyterlab/translation-extension:plugin" not in json.loads((english_settings / "overrides.json").read_text())
    assert not any("preferred_dir" in a for a in english)


def test_make_course_runs_the_course_command_and_clean_keeps_student():
    assert shutil.which("make"), "`make` is needed for the README's commands (apt-get install make)"
    dry = lambda target: subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True).stdout
    assert "-m bert_edu course" in dry("course") and "--solutions" not in dry("course")
    assert "-m bert_edu course --solutions" in dry("course-solutions")
    clean = [line for line in dry("clean").splitlines() if "rm " in line]
    assert clean and not any("student" in line for line in clean), f"make clean deletes the learner's work: {clean}"


def test_jupyterlab_gets_allow_root_only_as_root_and_the_course_settings(tmp_path):
    as_root = launch.lab_command(tmp_path, ["--no-browser"], is_root=True)
    assert "--allow-root" in as_root and "--no-browser" in as_root
    assert "--allow-root" not in launch.lab_command(tmp_path, [], is_root=False)
    settings = next(a for a in as_root if a.startswith("--LabApp.app_settings_dir="))
    overrides = json.loads((Path(settings.split("=", 1)[1]) / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert Path.home() / ".jupyter" not in Path(settings.split("=", 1)[1]).parents


@pytest.mark.parametrize("solutions", [False, True, "zh"], ids=["exercise-edition", "solutions", "chinese"])
def test_course_serves_its_folder_with_the_news_prompt_off(solutions, tmp_path):
    port, token = _free_port(), "bert-edu-test"
    args = [sys.executable, "-m", "bert_edu", "course", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}"]
    chinese = solutions == "zh"
    solutions = solutions is True
    args += ["--solutions"] if solutions else ["--folder", str(tmp_path / "student")]
    args += ["--lang", "zh"] if chinese else []
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    listing, deadline = None, time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=5) as resp:
                    listing = json.load(resp)
                break
            except OSError:
                time.sleep(1)
        assert listing is not None, f"JupyterLab did not answer on port {port}: {proc.stdout.read1(10000)!r}"
        served = {item["name"] for item in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")}
        assert expected and expected <= served, f"served {served}, expected {expected}"
        if not solutions:  # the exercise edition, not the solutions
            with urllib.request.urlopen(f"{base}/api/contents/07_pretraining.ipynb?token={token}", timeout=10) as r:
                assert "raise NotImplementedError()" in json.dumps(json.load(r)["content"])
        if chinese:  # the Chinese exercise edition in zh/, JupyterLab's menus in Chinese with its language pack
            with urllib.request.urlopen(f"{base}/api/contents/zh/07_pretraining.ipynb?token={token}", timeout=10) as r:
                content = json.load(r)["content"]
            assert content["metadata"]["language"] == "zh-CN"
            assert "raise NotImplementedError()" in json.dumps(content) and "预训练" in json.dumps(content, ensure_ascii=False)
            if launch.zh_language_pack_installed():
                with urllib.request.urlopen(f"{base}/lab/api/translations/zh_CN?token={token}", timeout=10) as r:
                    assert json.load(r).get("data"), "JupyterLab serves no Chinese language pack"
        url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            setting = json.load(resp)
        # the course's overrides.json sets the default the page sees; a user setting of their own would still win
        assert setting["schema"]["properties"]["fetchNews"]["default"] == "false", setting["schema"]["properties"]
        assert setting["settings"].get("fetchNews", "false") == "false", setting["settings"]
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as resp:
            assert resp.status == 200 and b"JupyterLab" in resp.read()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass  # already gone
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    out = proc.stdout.read().decode(errors="replace")
    if os.geteuid() == 0:
        assert "--allow-root" in out, out[:2000]
