"""`make notebooks` (bert_edu.course.notebooks) leaves clean outputs, and the course figures can be redrawn."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import nbformat
import pytest

from bert_edu.course import notebooks as tool

# tools/figures.py is a maintainer's script outside the package (python tools/figures.py): load it by path
_spec = importlib.util.spec_from_file_location("figures", Path(__file__).resolve().parents[1] / "tools" / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def _bar_notebook(value=50.0, text="run:   0%|          | 0/50 [00:00<?, ?it/s]"):
    """A notebook as nbclient stores a finished tqdm.auto bar: the widget's state + the first frame as text."""
    state = {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_pre", "IPY_MODEL_bar", "IPY_MODEL_suf"]}},
        "pre": {"model_name": "HTMLModel", "state": {"value": "run:\u2007100%"}},
        "bar": {"model_name": "FloatProgressModel", "state": {"max": 50.0, "value": value}},
        "suf": {"model_name": "HTMLModel", "state": {"value": "\u200750/50\u2007[00:15&lt;00:00,\u20073.05it/s]"}},
    }
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {tool.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    cell = nbformat.v4.new_code_cell("for _ in tqdm(range(50)): pass")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        tool.WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0}, "text/plain": text})]
    nb.cells = [cell]
    return nb


def test_progress_bar_text_becomes_its_final_state():
    nb = _bar_notebook()
    assert tool.finalise_progress_bars(nb) == 1
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == "run: 100%|██████████| 50/50 [00:15<00:00, 3.05it/s]"
    assert tool.finalise_progress_bars(nb) == 0  # already final: nothing to do


def test_a_bar_without_its_widget_state_is_reported_frozen(tmp_path, capsys):
    nb = _bar_notebook()
    nb.metadata.pop("widgets")
    assert tool.finalise_progress_bars(nb) == 0  # nothing to rebuild it from
    assert tool.frozen_bars(nb)
    path = tmp_path / "frozen.ipynb"
    nbformat.write(nb, path)
    assert tool.main(["check", str(path)]) == 1


def test_half_finished_bar_is_drawn_half_full():
    nb = _bar_notebook(value=25.0)
    tool.finalise_progress_bars(nb)
    assert "|█████     |" in nb.cells[0].outputs[0]["data"]["text/plain"]


def test_text_bars_keep_only_the_last_frame_of_each_line():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="a:   0%|  | 0/2\ra:  50%|# | 1/2\r"
                                                                         "a: 100%|##| 2/2\r\ndone\n")]
    nb.cells = [cell]
    tool.finalise_progress_bars(nb)
    assert cell.outputs[0]["text"] == "a: 100%|##| 2/2\ndone\n"


def _printing(text, name="stdout"):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name=name, text=text)]
    nb.cells = [cell]
    return nb


@pytest.mark.parametrize("text", ["saved to /root/.cache/bert-edu/x", "/home/ana/course/x.html", "/Users/bo/x",
                                  "tmp folder /tmp/bert-edu-09-abc/", "C:\\Users\\x\\model"])
def test_machine_paths_are_found(text):
    assert tool.machine_paths(_printing(text + "\n"))


@pytest.mark.parametrize("text", ["saved to checkpoints/pretrain-course", "notebooks/figures/x.png",
                                  "<site-packages>/transformers/x.py:12: UserWarning", "1/2 of the tokens"])
def test_relative_paths_pass(text):
    assert tool.machine_paths(_printing(text + "\n")) == []


def test_library_paths_in_warnings_are_shortened():
    prefix = tool._library_prefixes()[0]
    nb = _printing(f"{prefix}/transformers/modeling.py:3: UserWarning: x\n", name="stderr")
    tool.shorten_library_paths(nb)
    assert nb.cells[0].outputs[0]["text"].startswith("<")
    assert prefix not in nb.cells[0].outputs[0]["text"]


def test_check_command_fails_on_a_machine_path_and_a_frozen_bar(tmp_path, capsys):
    clean, dirty, frozen = tmp_path / "clean.ipynb", tmp_path / "dirty.ipynb", tmp_path / "frozen.ipynb"
    nbformat.write(_printing("checkpoint in checkpoints/x\n"), clean)
    nbformat.write(_printing("checkpoint in /home/me/.cache/bert-edu/x\n"), dirty)
    nbformat.write(_bar_notebook(), frozen)
    assert tool.main(["check", str(clean)]) == 0
    assert tool.main(["check", str(dirty)]) == 1
    assert "absolute path" in capsys.readouterr().err
    assert tool.main(["check", str(frozen)]) == 1
    assert "first frame" in capsys.readouterr().err
    assert tool.main(["check", str(tmp_path / "missing.ipynb")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_execute_cleans_bars_and_records_the_time(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(5), desc='steps'): pass\n"
                                          "print('saved to checkpoints/x')")]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    assert tool.main(["execute", str(path)]) == 0
    saved = json.loads(path.read_text())
    texts = ["".join(o.get("data", {}).get("text/plain", "")) + "".join(o.get("text", ""))
             for o in saved["cells"][0]["outputs"]]
    assert any("100%" in t and "5/5" in t for t in texts), texts
    assert not any(" 0%|" in t for t in texts), texts
    assert saved["metadata"]["bert_edu"]["cpu"]["wall_time_s"] >= 0
    assert tool.main(["times", str(path)]) == 0
    assert "tiny.ipynb" in capsys.readouterr().out


def test_figures_are_drawn_and_committed(tmp_path):
    written = figures.draw_all(tmp_path, dpi=40)
    assert sorted(p.stem for p in written) == sorted(figures.FIGURES)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in figures.FIGURES:  # the committed copies the notebooks embed
        committed = figures.FIGURES_DIR / f"{name}.png"
        assert committed.is_file(), f"run python tools/figures.py to draw {committed.name}"
        assert committed.stat().st_size < 150_000


def test_the_header_time_row_is_rewritten_from_the_measurement():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01\n\n| | |\n| --- | --- |\n| **Time** | old |\n\nmore")]
    nb.metadata["bert_edu"] = {"gpu": {"wall_time_s": 12, "device": "NVIDIA H200", "cpus": 16}}
    tool.record_time(nb, 95.4, {"cpus": 2, "device": "cpu", "torch_threads": 2})
    row = nb.cells[0].source.splitlines()[4]
    assert row.startswith("| **Time** | 95 s on a 2-core CPU; 12 s on a GPU (NVIDIA H200)"), row
    assert nb.cells[0].source.endswith("\n\nmore")
    assert nb.metadata["bert_edu"]["cpu"]["wall_time_s"] == 95


def test_the_course_files_in_warnings_become_relative_to_the_repository():
    nb = _printing(f"{tool.REPO}/bert_edu/train/pretrain.py:297: UserWarning: x\n", name="stderr")
    tool.shorten_library_paths(nb)
    assert nb.cells[0].outputs[0]["text"] == "bert_edu/train/pretrain.py:297: UserWarning: x\n"
    assert tool.machine_paths(nb, tool._extra_paths()) == []


def test_a_chinese_edition_runs_in_chinese_in_its_own_folder(tmp_path):
    """make notebooks executes notebooks/zh/ with BERT_EDU_LANG=zh (the checkers speak Chinese) in its own folder
    (chapter("05") reads the Chinese notebooks beside it), and writes the measured time into the Chinese row."""
    (tmp_path / "zh").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["language"] = "zh-CN"
    nb.cells = [nbformat.v4.new_markdown_cell("# 01\n\n| | |\n| --- | --- |\n| **用时** | 旧 |"),
                nbformat.v4.new_code_cell("import os\nprint(os.environ.get('BERT_EDU_LANG'), os.path.isfile('01_x.ipynb'))")]
    path = tmp_path / "zh" / "01_x.ipynb"
    nbformat.write(nb, path)
    assert tool.main(["execute", str(path)]) == 0
    saved = nbformat.read(path, as_version=4)
    assert saved.cells[1].outputs[0]["text"].split() == ["zh", "True"]  # in Chinese, in notebooks/zh/
    assert "| **用时** | " in saved.cells[0].source and "核 CPU 上" in saved.cells[0].source, saved.cells[0].source
    english = nbformat.v4.new_notebook()
    english.cells = [nbformat.v4.new_code_cell("import os\nprint(os.environ.get('BERT_EDU_LANG'))")]
    nbformat.write(english, tmp_path / "02_y.ipynb")
    assert tool.main(["execute", str(tmp_path / "02_y.ipynb")]) == 0
    assert nbformat.read(tmp_path / "02_y.ipynb", as_version=4).cells[0].outputs[0]["text"].strip() == "en"
