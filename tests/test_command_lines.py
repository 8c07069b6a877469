"""Every command line, tried as a new user would: bad input ends in exit status 2 and one ``error: ...`` line
on stderr (no traceback), ``--help`` shows the defaults, and asset downloads show their size and progress.
(pretrain's error paths: tests/test_pretraining_robust.py.)"""

import sys

import pytest

from bert_edu.data import assets


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ok.csv").write_text("text,label\na fine film,pos\na dull film,neg\n", encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes("text,label\nun film trop \xe9tonnant,pos\n".encode("latin-1"))
    return tmp_path


def test_finetune_rejects_a_file_that_is_not_utf8(files, capsys):
    from bert_edu.train import finetune

    code = finetune.main(["--train", str(files / "latin1.csv"), "--eval", str(files / "ok.csv"),
                          "--out", str(files / "out")])
    assert code == 2 and "is not UTF-8 text" in one_error_line(capsys)


def test_finetune_rejects_mixed_precision_it_cannot_run(files, capsys):
    from bert_edu.train import finetune

    code = finetune.main(["--train", str(files / "ok.csv"), "--eval", str(files / "ok.csv"), "--init", "scratch",
                          "--out", str(files / "out"), "--device", "cpu", "--mixed-precision", "bf16"])
    assert code == 2 and "needs a CUDA GPU" in one_error_line(capsys)


def test_predict_errors(files, capsys):
    from bert_edu.train import predict

    assert predict.main(["--model", str(files / "nothing-here"), "a text"]) == 2
    assert "holds no model" in one_error_line(capsys)
    broken = files / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["BertForSequenceClassification"]}')
    assert predict.main(["--model", str(broken), "a text"]) == 2  # no weights, no vocabulary
    one_error_line(capsys)


def test_data_and_student_edition_report_a_folder_they_cannot_write(files, capsys):
    from bert_edu.course import student_edition
    from bert_edu.data.__main__ import main as data_main

    blocker = files / "a-file"
    blocker.write_text("not a folder")
    assert data_main(["sentiment", str(blocker / "rt")]) == 2
    one_error_line(capsys)
    assert student_edition.main([str(blocker / "student")]) == 2
    one_error_line(capsys)


def test_notebooks_tool_names_a_missing_notebook(capsys):
    from bert_edu.course import notebooks

    assert notebooks.main(["execute", "no-such-notebook.ipynb"]) == 2
    assert "does not exist" in one_error_line(capsys)


@pytest.mark.parametrize("module, expected", [
    ("bert_edu.pretrain", "(default: auto)"),  # --mixed-precision (every option shows its default)
    ("bert_edu.finetune", "(default: auto)"),  # --mixed-precision
    ("bert_edu.predict", "(default: 128)"),  # --max-length
])
def test_help_shows_the_defaults(module, expected, capsys):
    import importlib

    with pytest.raises(SystemExit) as stop:  # in this process: no torch import per command (tests/test_cli_surface.py)
        importlib.import_module(module).main(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and expected in " ".join(out.split()), out


def test_help_of_the_course_tools_shows_the_defaults(capsys):
    from bert_edu.course import notebooks

    with pytest.raises(SystemExit):
        notebooks.main(["execute", "--help"])
    assert "(default: 1800)" in " ".join(capsys.readouterr().out.split())  # --timeout


def test_asset_downloads_show_their_size_and_progress(tmp_path, monkeypatch, capsys):
    """pip's own lines (the wheel's size, its progress bar) reach the learner, also in a notebook, where
    stdout is not a terminal. A stand-in for pip writes the wheel and prints what pip prints."""
    fake_pip = tmp_path / "fake_pip.py"
    fake_pip.write_text(
        "import sys, zipfile\n"
        "dest = sys.argv[sys.argv.index('-d') + 1]\n"
        "print('Collecting tiny-pkg==1.0')\n"
        "print('  Downloading tiny_pkg-1.0-py3-none-any.whl (92.4 MB)', flush=True)\n"
        "print('     ━━━━━━━━━━━━━━━━━━━━ 92.4/92.4 MB 50.0 MB/s  0:00:02')\n"
        "with zipfile.ZipFile(dest + '/tiny_pkg-1.0-py3-none-any.whl', 'w') as z:\n"
        "    z.writestr('tiny_pkg/data.txt', 'hello')\n"
        "print('Saved ' + dest)\n")
    monkeypatch.setattr(assets, "PIP", [sys.executable, str(fake_pip)])
    asset = assets.Asset(name="tiny", description="a test", package="tiny-pkg", version="1.0",
                         wheel="tiny_pkg-1.0-py3-none-any.whl", wheel_sha256="")
    with pytest.raises(assets.AssetError, match="sha256"):  # the stand-in's wheel is not the pinned one
        assets._download_wheel(asset, tmp_path, verbose=True)
    out = capsys.readouterr().out
    assert "[assets] tiny: Downloading tiny_pkg-1.0-py3-none-any.whl (92.4 MB)" in out
    assert "92.4/92.4 MB" in out and "Collecting" not in out
