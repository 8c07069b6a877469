"""Fine-tuning pieces (padding, batching, evaluation, best-epoch restore) and the two command lines,
end to end on tiny synthetic data with a tiny randomly initialised model (seconds, on a CPU)."""

import json
import os
import random
import subprocess
import sys

import pytest
import torch

from bert_edu.train import finetune
from bert_edu.train import predict
from bert_edu import BertConfig, BertForSequenceClassification
from bert_edu.data.assets import minilm_path
from bert_edu.data.classification import Example
from bert_edu.model.config import SIZES

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# ------------------------------------------------------------------------------------- pieces


def test_collate_pads_to_the_longest_in_the_batch():
    batch = finetune.collate([{"input_ids": [101, 7, 102], "label": 1},
                              {"input_ids": [101, 5, 6, 8, 102], "label": 0}], pad_token_id=3)
    assert batch["input_ids"].tolist() == [[101, 7, 102, 3, 3], [101, 5, 6, 8, 102]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["token_type_ids"].tolist() == [[0] * 5] * 2
    assert batch["labels"].tolist() == [1, 0]
    assert "labels" not in finetune.collate([{"input_ids": [1, 2]}])


def test_bucketed_batches_are_a_shuffled_partition_with_little_padding():
    rng = random.Random(0)
    lengths = [rng.randint(3, 60) for _ in range(1000)]
    batches = finetune.bucketed_batches(lengths, 16, random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all(len(b) <= 16 for b in batches)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    plain = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    padded_plain = sum(len(b) * max(lengths[i] for i in b) for b in plain)
    assert padded < 0.7 * padded_plain, "bucketing should cut the padded length a lot"
    again = finetune.bucketed_batches(lengths, 16, random.Random(1))
    other = finetune.bucketed_batches(lengths, 16, random.Random(2))
    assert again == batches and other != batches


def tiny_model(num_labels=2, seed=0):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=num_labels)
    return BertForSequenceClassification(config).eval()


def random_features(n, seed=0, num_labels=2):
    rng = random.Random(seed)
    return [{"input_ids": [1] + [rng.randint(5, 49) for _ in range(rng.randint(1, 20))] + [2],
             "label": rng.randrange(num_labels)} for _ in range(n)]


def test_predict_proba_keeps_input_order_and_matches_one_by_one():
    model, features = tiny_model(3), random_features(37, num_labels=3)
    probs = finetune.predict_proba(model, features, batch_size=8)
    assert probs.shape == (37, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(37))
    with torch.no_grad():
        for i in (0, 5, 36):
            logits = model(torch.tensor([features[i]["input_ids"]])).logits
            torch.testing.assert_close(probs[i], logits.softmax(-1)[0], atol=1e-5, rtol=1e-4)


def test_metrics_and_majority_baseline():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    m = finetune.metrics_from_probs(probs, [0, 1, 1])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["loss"] == pytest.approx(-(torch.tensor([0.9, 0.8, 0.4]).log().mean().item()))
    # the majority comes from the training labels, even where the evaluation set leans the other way
    assert finetune.majority_baseline([1, 1, 0], [0, 0, 0, 1]) == {"label": 1, "accuracy": 0.25}


def test_train_classifier_restores_the_best_epoch(monkeypatch):
    model, features = tiny_model(), random_features(40)
    snapshots, scripted = [], iter([0.5, 0.9, 0.6])

    def fake_evaluate(model, *args, **kwargs):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"accuracy": next(scripted), "loss": 1.0, "probs": None}

    monkeypatch.setattr(finetune, "evaluate", fake_evaluate)
    result = finetune.train_classifier(model, features, features, epochs=3, lr=1e-2, batch_size=8,
                                       progress=False, log=None)
    assert result.best_epoch == 2 and result.best["accuracy"] == 0.9
    assert [row["eval_accuracy"] for row in result.history] == [0.5, 0.9, 0.6]
    assert result.steps == 15 and result.train_examples == 40
    final = model.state_dict()
    assert not torch.equal(snapshots[1]["classifier.weight"], snapshots[2]["classifier.weight"])
    for key, value in snapshots[1].items():
        assert torch.equal(final[key], value), f"{key} is not the best epoch's"


def test_training_learns_and_is_reproducible():
    # label = does the sequence contain token 7: learnable by a 1-layer model in a few epochs
    rng = random.Random(0)
    feats = []
    for _ in range(160):
        ids = [rng.randint(8, 49) for _ in range(rng.randint(2, 10))]
        label = rng.randrange(2)
        if label:
            ids[rng.randrange(len(ids))] = 7
        feats.append({"input_ids": [1] + ids + [2], "label": label})
    runs = []
    for _ in range(2):
        model = tiny_model(seed=1)
        result = finetune.train_classifier(model, feats[:128], feats[128:], epochs=8, lr=1e-2, batch_size=16,
                                           progress=False, log=None, seed=3)
        runs.append((result.history, model.classifier.weight.detach().clone()))
    history = runs[0][0]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert max(row["eval_accuracy"] for row in history) >= 0.9
    assert [r["eval_loss"] for r in runs[0][0]] == [r["eval_loss"] for r in runs[1][0]]
    assert torch.equal(runs[0][1], runs[1][1])


# ------------------------------------------------------------------------------------- command lines

POSITIVE = ["good", "great", "wonderful", "fun", "brilliant", "lovely"]
NEGATIVE = ["bad", "awful", "boring", "dull", "terrible", "ugly"]
FILLER = ["the", "film", "movie", "was", "really", "story", "a", "plot", "and", "very", "acting"]


def synthetic(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["positive", "negative"])
        words = rng.sample(FILLER, 2) + [rng.choice(POSITIVE if label == "positive" else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_rows(path, rows, header=("text", "label"), delimiter=","):
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train once (tiny scratch model, MiniLM vocabulary) through the real command line."""
    d = tmp_path_factory.mktemp("cli")
    train = write_rows(d / "train.tsv", [(lab, txt) for txt, lab in synthetic(320, 0)],
                       header=("sentiment", "review"), delimiter="\t")
    dev = write_rows(d / "dev.tsv", [(lab, txt) for txt, lab in synthetic(40, 1)],
                     header=("sentiment", "review"), delimiter="\t")
    test = write_rows(d / "test.tsv", [(lab, txt) for txt, lab in synthetic(40, 2)],
                      header=("sentiment", "review"), delimiter="\t")
    out = d / "model"
    cmd = [sys.executable, "-m", "bert_edu.finetune", "--train", str(train), "--eval", str(dev),
           "--test", str(test), "--init", "scratch", "--size", "tiny", "--out", str(out), "--epochs", "3",
           "--lr", "5e-3", "--batch-size", "16", "--max-length", "32", "--text-column", "review",
           "--label-column", "sentiment", "--min-epoch-examples", "300", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc, out


def test_cli_prints_one_json_line_last(trained):
    proc, _ = trained
    lines = proc.stdout.strip().splitlines()
    metrics = json.loads(lines[-1])
    assert len(lines) == 1, f"stdout must hold only the JSON line, got: {proc.stdout!r}"
    assert metrics["train_examples"] == 320 and metrics["examples_seen"] == 960 and metrics["epochs"] == 3
    assert metrics["repeats"] == 1 and metrics["lr"] == 5e-3 and metrics["batch_size"] == 16
    assert metrics["labels"] == ["negative", "positive"]
    assert metrics["accuracy"] >= 0.9, metrics  # one word decides: a tiny model must learn it
    assert metrics["test_accuracy"] >= 0.9 and metrics["test_examples"] == 40
    assert {"loss", "seconds", "best_epoch"} <= set(metrics)
    assert list(metrics)[:5] == ["metric", "value", "split", "seconds", "out"]  # the commands' one schema
    assert (metrics["metric"], metrics["split"], metrics["value"]) == ("accuracy", "test", metrics["test_accuracy"])
    assert "epoch 3/3" in proc.stderr, "progress goes to stderr"


def test_saved_model_loads_in_transformers_pipeline_with_label_names(trained):
    from transformers import pipeline

    _, out = trained
    texts = ["a really wonderful film", "the plot was dull", "very bad acting", "lovely and fun story"]
    clf = pipeline("text-classification", model=str(out), device="cpu")
    theirs = clf(texts)
    model, tokenizer = predict.load_classifier(out)
    ours = predict.classify(model, tokenizer, texts)
    assert [r["label"] for r in theirs] == [r["label"] for r in ours]
    assert [r["label"] for r in ours] == ["positive", "negative", "negative", "positive"]
    for t, o in zip(theirs, ours):
        assert t["score"] == pytest.approx(o["score"], abs=1e-5)


def test_predict_cli_arguments_and_stdin(trained):
    _, out = trained
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    base = [sys.executable, "-m", "bert_edu.predict", "--model", str(out)]
    proc = subprocess.run(base + ["a great film", "an awful film"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.strip().splitlines()]
    assert [(r[0], r[2]) for r in rows] == [("positive", "a great film"), ("negative", "an awful film")]
    assert all(0.5 <= float(r[1]) <= 1 for r in rows)
    proc = subprocess.run(base + ["--json"], input="a brilliant movie\n\nthe story was boring\n",
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert sum(rows[0]["probs"].values()) == pytest.approx(1.0)


def test_predict_cli_bad_model_folder(tmp_path, capsys):
    assert predict.main(["--model", str(tmp_path), "hello"]) == 2
    assert "no config.json" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- bad input


@pytest.fixture
def no_training(monkeypatch):
    """Any attempt to load a model or train fails the test: errors must come before both."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded or trained before the input was checked")

    monkeypatch.setattr(finetune, "build_classifier", forbidden)
    monkeypatch.setattr(finetune, "train_classifier", forbidden)


GOOD = "text,label\ngood film,pos\nbad film,neg\n"


@pytest.mark.parametrize("train, dev, extra, phrase", [
    ("", GOOD, [], "is empty"),
    ("review,label\nhi,pos\nho,neg\n", GOOD, [], "no column 'text'"),
    ("text,label\nhi,pos\nho,pos\n", GOOD, [], "single class"),
    (GOOD, "text,label\nok,pos\nmeh,neutral\n", [], "['neutral'], never seen in the training data"),
    (GOOD, GOOD, ["--label-column", "stars"], "no column 'stars'"),
    ("text,label\nhi,pos\nho,pos\nhe,neg\n", GOOD, ["--max-train-examples", "2"], "single class"),
])
def test_cli_bad_input_fails_before_training(tmp_path, capsys, no_training, train, dev, extra, phrase):
    (tmp_path / "train.csv").write_text(train)
    (tmp_path / "dev.csv").write_text(dev)
    out = tmp_path / "out"
    code = finetune.main(["--train", str(tmp_path / "train.csv"), "--eval", str(tmp_path / "dev.csv"),
                          "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 2
    assert phrase in captured.err and captured.err.startswith("error: ")
    assert captured.out == "" and not out.exists()


@pytest.mark.parametrize("args, phrase", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--init", "/no/such/folder"], "neither 'minilm', 'scratch' nor an existing folder"),
    (["--size", "tiny"], "only apply to --init scratch"),
    (["--lr", "-1"], "--lr must be positive"),
    (["--min-epoch-examples", "0"], "--min-epoch-examples must be at least 1"),
])
def test_cli_bad_arguments(tmp_path, capsys, no_training, args, phrase):
    (tmp_path / "train.csv").write_text(GOOD)
    with pytest.raises(SystemExit) as exit_info:
        finetune.main(["--train", str(tmp_path / "train.csv"), "--eval", str(tmp_path / "train.csv"),
                       "--out", str(tmp_path / "out"), *args])
    assert exit_info.value.code == 2
    assert phrase in capsys.readouterr().err


def test_minilm_init_loads_pretrained_encoder_and_fresh_head():
    model, tokenizer = finetune.build_classifier("minilm", ["neg", "pos"], verbose=False)
    assert model.config.id2label == {0: "neg", 1: "pos"} and model.config.hidden_size == 384
    assert tokenizer("a film")["input_ids"][0] == tokenizer.cls_token_id
    from safetensors.torch import load_file

    weights = load_file(str(minilm_path() / "model.safetensors"))
    torch.testing.assert_close(model.bert.embeddings.word_embeddings.weight,
                               weights["embeddings.word_embeddings.weight"])
    scratch, _ = finetune.build_classifier("scratch", ["neg", "pos"], size="tiny")
    assert scratch.config.hidden_size == SIZES["tiny"]["hidden_size"] and scratch.config.vocab_size == 30522


def test_recipe_depends_on_the_width_and_small_sets_are_repeated():
    from bert_edu import BertConfig

    small = BertConfig(**SIZES["mini"])
    assert finetune.recipe_for(small) == finetune.SMALL_MODEL_RECIPE
    assert finetune.recipe_for(small, pretrained=True) == dict(finetune.SMALL_MODEL_RECIPE,
                                                                lr=finetune.SMALL_PRETRAINED_LR)
    assert finetune.SMALL_PRETRAINED_LR != finetune.SMALL_MODEL_RECIPE["lr"]
    assert finetune.recipe_for(BertConfig(hidden_size=384, num_attention_heads=12)) == {k: finetune.DEFAULTS[k]
                                                               for k in ("epochs", "lr", "batch_size")}
    feats = [{"input_ids": [1, 2], "label": i % 2} for i in range(300)]
    repeated, repeats = finetune.repeat_to(feats, 1000)
    assert repeats == 4 and len(repeated) == 1200 and repeated[300:600] == feats
    assert finetune.repeat_to(feats, 100) == (feats, 1)


def test_cli_without_recipe_flags_uses_the_width_recipe(tmp_path, monkeypatch, capsys):
    """A tiny model from the command line's defaults gets SMALL_MODEL_RECIPE, repeated to MIN_EPOCH_EXAMPLES."""
    seen = {}

    def fake_train(model, train_features, eval_features, **kw):
        seen.update(kw, n=len(train_features))
        return finetune.FinetuneResult(best_epoch=1, best={"accuracy": 0.5, "loss": 0.7},
                                       train_examples=len(train_features))

    monkeypatch.setattr(finetune, "train_classifier", fake_train)
    (tmp_path / "train.csv").write_text(GOOD)
    code = finetune.main(["--train", str(tmp_path / "train.csv"), "--eval", str(tmp_path / "train.csv"),
                          "--init", "scratch", "--size", "tiny", "--out", str(tmp_path / "out"), "--epochs", "2"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    n = len(GOOD.strip().splitlines()) - 1
    assert seen["lr"] == finetune.SMALL_MODEL_RECIPE["lr"] and seen["epochs"] == 2
    assert metrics["repeats"] == -(-finetune.MIN_EPOCH_EXAMPLES // n) and seen["n"] == n * metrics["repeats"]


def test_cli_default_rate_depends_on_where_the_weights_start(tmp_path, monkeypatch, capsys):
    """The small-model rate chosen on validation for each start (learning_curve.json): --init scratch gets
    SMALL_MODEL_RECIPE's, a pretrained small checkpoint SMALL_PRETRAINED_LR; an explicit --lr wins."""
    from bert_edu import BertConfig, BertForPreTraining

    seen = []

    def fake_train(model, train_features, eval_features, **kw):
        seen.append(kw["lr"])
        return finetune.FinetuneResult(best_epoch=1, best={"accuracy": 0.5, "loss": 0.7},
                                       train_examples=len(train_features))

    monkeypatch.setattr(finetune, "train_classifier", fake_train)
    (tmp_path / "train.csv").write_text(GOOD)
    model, tok = finetune.build_classifier("scratch", ["neg", "pos"], size="tiny")
    BertForPreTraining(BertConfig(**{k: getattr(model.config, k) for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")})
    ).save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    common = ["--train", str(tmp_path / "train.csv"), "--eval", str(tmp_path / "train.csv"), "--epochs", "1"]
    assert finetune.main(common + ["--init", str(tmp_path / "ckpt"), "--out", str(tmp_path / "a")]) == 0
    assert finetune.main(common + ["--init", "scratch", "--like", str(tmp_path / "ckpt"),
                                   "--out", str(tmp_path / "b")]) == 0
    assert finetune.main(common + ["--init", str(tmp_path / "ckpt"), "--lr", "1e-4", "--out", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert seen == [finetune.SMALL_PRETRAINED_LR, finetune.SMALL_MODEL_RECIPE["lr"], 1e-4]
