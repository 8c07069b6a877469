"""python -m bert_edu.ner and python -m bert_edu.predict on a token classifier: a tiny end-to-end run, the
saved model in transformers (model and pipeline), and errors before training."""

import json
import os
import random
import subprocess
import sys

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bert_edu.train import ner  # noqa: E402

PEOPLE = ["Peter Blackburn", "Anna Schmidt", "John", "Maria Lopez"]
PLACES = ["Brussels", "Paris", "New York", "Lancashire"]
ORGS = ["European Commission", "Reuters", "EU"]


def toy_corpus(n, seed):
    """Sentences like 'Anna Schmidt of Reuters visited New York .' with their BIO tags."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        rows = []
        for words, kind in ((rng.choice(PEOPLE), "PER"), (["of"], None), (rng.choice(ORGS), "ORG"),
                            (["visited"], None), (rng.choice(PLACES), "LOC"), (["."], None)):
            words = words.split() if isinstance(words, str) else words
            rows += [(w, "O" if kind is None else f"{'B' if i == 0 else 'I'}-{kind}") for i, w in enumerate(words)]
        lines.append("\n".join(f"{w} {t}" for w, t in rows))
    return "\n\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny random-init BERT (MiniLM's vocabulary) trained for a few steps; its folder and JSON line."""
    root = tmp_path_factory.mktemp("ner")
    (root / "train.txt").write_text(toy_corpus(40, 0))
    (root / "dev.txt").write_text(toy_corpus(10, 1))
    (root / "test.txt").write_text(toy_corpus(10, 2))
    args = ["--train", str(root / "train.txt"), "--eval", str(root / "dev.txt"), "--test", str(root / "test.txt"),
            "--init", "scratch", "--size", "tiny", "--out", str(root / "model"), "--epochs", "2",
            "--batch-size", "8", "--lr", "1e-3", "--no-progress", "--device", "cpu"]
    result = subprocess.run([sys.executable, "-m", "bert_edu.ner", *args], capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr
    return root, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_one_json_line_with_entity_scores(trained):
    root, metrics, stderr = trained
    assert metrics["split"] == "test" and metrics["n_train_sentences"] == 40
    assert (metrics["metric"], metrics["value"]) == ("f1", metrics["f1"]) and "seconds" in metrics
    for key in ("f1", "precision", "recall", "eval_f1"):
        assert 0.0 <= metrics[key] <= 1.0
    assert set(metrics["per_type"]) <= {"LOC", "ORG", "PER"}
    assert "epoch 1/2" in stderr and "eval entity F1" in stderr


def test_saved_in_hf_layout_loads_in_transformers(trained):
    import transformers
    from bert_edu.train.ner import load_tagger

    root, _, _ = trained
    folder = root / "model"
    assert {"config.json", "model.safetensors", "vocab.txt"} <= {p.name for p in folder.iterdir()}
    assert not [p for p in root.iterdir() if p.name.startswith(".model")]  # no temporary folder left behind
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert config["id2label"]["0"] == "O" and "B-PER" in config["label2id"]
    ours, tokenizer = load_tagger(folder)
    theirs = transformers.BertForTokenClassification.from_pretrained(folder).eval()
    ids = torch.tensor([tokenizer("Peter Blackburn visited Paris.")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=1e-5, rtol=0)


def test_pipeline_finds_the_same_entities_as_the_package(trained):
    import transformers
    from bert_edu.train.ner import load_tagger, predict_entities

    root, _, _ = trained
    texts = ["Peter Blackburn of Reuters visited New York.", "Anna Schmidt of the EU visited Lancashire today.",
             "Nothing here, or is there? Café Zürich, Müller-Lüdenscheidt & Co."]
    model, tokenizer = load_tagger(root / "model")
    ours = predict_entities(model, tokenizer, texts)
    pipe = transformers.pipeline("token-classification", model=str(root / "model"), aggregation_strategy="simple",
                                 device="cpu")
    theirs = pipe(texts)
    assert any(ours), "the test needs a model that finds some entities"
    for text, a, b in zip(texts, ours, theirs):
        assert [(e["entity_group"], e["start"], e["end"]) for e in a] == \
            [(e["entity_group"], e["start"], e["end"]) for e in b], text
        assert [e["score"] for e in a] == pytest.approx([float(e["score"]) for e in b], abs=1e-4)
        assert all(e["word"] == text[e["start"]:e["end"]] for e in a)


def test_predict_command_prints_entities(trained):
    root, _, _ = trained
    cmd = [sys.executable, "-m", "bert_edu.predict", "--model", str(root / "model"), "--json",
           "Peter Blackburn of Reuters visited Paris."]
    result = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["text"].startswith("Peter") and isinstance(row["entities"], list)
    assert all({"entity_group", "score", "start", "end", "word"} <= set(e) for e in row["entities"])


@pytest.mark.parametrize("train, message", [
    ("Peter B-PER\nBlackburn I-PER\n\nin O\nParis I-LOC\n", "train.txt:5: I-LOC follows O"),
    ("Peter PER\n", "train.txt:1: tag 'PER' is not a BIO tag"),
    ("", "train.txt holds no sentences"),
    ("Peter O\nsaid O\n", "hold no entity"),
])
def test_bad_training_file_is_one_error_line_before_training(tmp_path, capsys, train, message):
    (tmp_path / "train.txt").write_text(train)
    (tmp_path / "dev.txt").write_text("Paris B-LOC\n")
    code = ner.main(["--train", str(tmp_path / "train.txt"), "--eval", str(tmp_path / "dev.txt"),
                     "--out", str(tmp_path / "out"), "--init", "scratch", "--size", "tiny"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "out").exists()


def test_entity_type_missing_from_training_is_an_error(tmp_path, capsys):
    (tmp_path / "train.txt").write_text("Paris B-LOC\n")
    (tmp_path / "dev.txt").write_text("Peter B-PER\n")
    code = ner.main(["--train", str(tmp_path / "train.txt"), "--eval", str(tmp_path / "dev.txt"),
                     "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "dev.txt has entity types the training data never shows: PER" in err


def test_predict_without_a_model_folder(tmp_path, capsys):
    from bert_edu.train import predict

    assert predict.main(["--model", str(tmp_path), "Paris"]) == 2
    assert "holds no model" in capsys.readouterr().err


def test_baseline_tags_each_word_with_its_most_frequent_training_tag():
    from bert_edu.data.conll import Sentence

    train = [Sentence(["New", "York", "is", "big"], ["B-LOC", "I-LOC", "O", "O"]),
             Sentence(["York", "Minster"], ["B-LOC", "I-LOC"]), Sentence(["York"], ["B-LOC"])]
    test = [Sentence(["York", "and", "New", "York", "Minster", "Paris"], ["O"] * 6)]
    assert ner.most_frequent_tag_baseline(train, test) == [["B-LOC", "O", "B-LOC", "B-LOC", "I-LOC", "O"]]
