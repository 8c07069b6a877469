"""Why does the learner's pretrained start not beat random weights on sentiment? (issue 26; notebook 08, part 2)

The learning curve (``learning_curve.json``) puts the committed 5,600-step checkpoint (b) behind the same network
from random weights (c) beyond the noise at 3,000 labels, each at the rate chosen for it on validation, and level
elsewhere. This script looks at what fine-tuning does to each start at that point, with the same data, recipe and
rates (read from ``learning_curve.json``'s ``lr_selection``), 3 seeds:

* **how fast the loss falls**: the mean training loss of each epoch, and validation accuracy after each epoch;
* **how far each part of the network moves** (the learning rate each layer effectively gets): ||W_end - W_start||
  / ||W_start|| for the word embeddings, the other embeddings, each encoder layer, the pooler and the classifier;
* **frozen versus trained embeddings**: (b) again with its word embeddings frozen, and (c) with its random word
  embeddings frozen, at the same rates;
* **nearest neighbours of sentiment words** in the input embeddings, before and after fine-tuning, and the cosine
  of opposite-polarity pairs (good / bad, ...): masked-word prediction puts words that fit the same slots close
  together, whatever their polarity.

    OMP_NUM_THREADS=1 python benchmarks/why_pretraining.py

writes ``benchmarks/results/why_pretraining.json`` (about 5 minutes on one CPU thread). Notebook 08 reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CURVE = ROOT / "benchmarks" / "results" / "learning_curve.json"
DEFAULT_OUT = "benchmarks/results/why_pretraining.json"
EVAL_EXAMPLES = 500
PAIRS = (("good", "bad"), ("best", "worst"), ("great", "awful"), ("funny", "boring"), ("love", "hate"))
WORDS = ("good", "bad", "funny", "boring")


def parts(model) -> dict[str, list[str]]:
    """Parameter names grouped by the part of the network they belong to."""
    groups: dict[str, list[str]] = {}
    for name, _ in model.named_parameters():
        if name.startswith("bert.embeddings.word_embeddings"):
            key = "word embeddings"
        elif name.startswith("bert.embeddings"):
            key = "position, segment embeddings and their LayerNorm"
        elif name.startswith("bert.encoder.layer."):
            key = f"encoder layer {name.split('.')[3]}"
        elif name.startswith("bert.pooler"):
            key = "pooler"
        else:
            key = "classifier"
        groups.setdefault(key, []).append(name)
    return groups


def relative_change(start: dict, end: dict, groups: dict[str, list[str]]) -> dict[str, float]:
    """||W_end - W_start|| / ||W_start|| for each part (all its tensors together)."""
    out = {}
    for key, names in groups.items():
        diff = sum(float((end[n] - start[n]).pow(2).sum()) for n in names) ** 0.5
        norm = sum(float(start[n].pow(2).sum()) for n in names) ** 0.5
        out[key] = diff / norm if norm > 0 else float("nan")
    return out


def neighbours(model, tok, words=WORDS, k: int = 5) -> dict:
    """The k nearest words (cosine of input embeddings) of each word, and the cosine of each polarity pair."""
    emb = torch.nn.functional.normalize(model.bert.embeddings.word_embeddings.weight.detach().float(), dim=-1)
    vocab = tok.convert_ids_to_tokens(list(range(emb.shape[0])))
    whole = torch.tensor([t.isalpha() for t in vocab])  # whole words, not pieces, punctuation or [CLS]

    def tid(word):
        ids = tok.convert_tokens_to_ids([word])
        return ids[0] if ids and ids[0] != tok.unk_token_id else None

    near = {}
    for word in words:
        i = tid(word)
        if i is None:
            continue
        sims = (emb @ emb[i]).masked_fill(~whole, -2.0)
        sims[i] = -2.0
        near[word] = [vocab[j] for j in sims.topk(k).indices.tolist()]
    pairs = {f"{a} / {b}": float(emb[tid(a)] @ emb[tid(b)]) for a, b in PAIRS if tid(a) is not None
             and tid(b) is not None}
    return {"nearest": near, "pair_cosine": pairs}


def run(arm: str, checkpoint: Path, train, val, test, seed: int, lr: float, freeze_embeddings: bool) -> dict:
    from bert_edu.train import common, finetune
    from bert_edu.data import sentiment

    common.set_seed(seed)
    model, tok = (finetune.scratch_classifier(checkpoint, sentiment.LABELS) if arm == "scratch"
                  else finetune.pretrained_classifier(checkpoint, sentiment.LABELS, verbose=False))
    if freeze_embeddings:
        for p in model.bert.embeddings.word_embeddings.parameters():
            p.requires_grad_(False)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    before = neighbours(model, tok)
    recipe = {**finetune.recipe_for(model.config), "lr": lr}
    train_f, repeats = finetune.repeat_to(finetune.encode(tok, train))
    fit = finetune.train_classifier(model, train_f, finetune.encode(tok, val), seed=seed, device="cpu",
                                    pad_token_id=tok.pad_token_id, bucket=True, progress=False, log=None, **recipe)
    test_acc = finetune.evaluate(model, finetune.encode(tok, test), pad_token_id=tok.pad_token_id)["accuracy"]
    end = {n: p.detach() for n, p in model.named_parameters()}
    return {"arm": arm, "freeze_word_embeddings": freeze_embeddings, "seed": seed, "lr": lr,
            "test_accuracy": test_acc, "validation_accuracy": fit.best["accuracy"], "best_epoch": fit.best_epoch,
            "repeats": repeats, "epoch_train_loss": [h["train_loss"] for h in fit.history],
            "epoch_validation_accuracy": [h["eval_accuracy"] for h in fit.history],
            "relative_change": relative_change(start, end, parts(model)),
            "start_norm": {k: sum(float(start[n].pow(2).sum()) for n in names) ** 0.5
                           for k, names in parts(model).items()},
            "neighbours_before": before, "neighbours_after": neighbours(model, tok)}


def summarise(runs: list[dict]) -> dict:
    """Per arm (and frozen or not): test accuracy as mean and 95% half-interval over the seeds, each part's mean
    relative change, the mean training loss of each epoch, and the mean cosine of the polarity pairs before and
    after fine-tuning; and the paired differences that answer the questions ((b) - (c); frozen - trained)."""
    from bert_edu.analysis.stats import mean_interval

    def mean(values):
        values = list(values)
        return sum(values) / len(values)

    arms = {}
    for key in sorted({(r["arm"], r["freeze_word_embeddings"]) for r in runs}):
        rs = sorted((r for r in runs if (r["arm"], r["freeze_word_embeddings"]) == key), key=lambda r: r["seed"])
        m, h = mean_interval([r["test_accuracy"] for r in rs]) if len(rs) > 1 else (rs[0]["test_accuracy"], None)
        arms[f"{key[0]}{' (word embeddings frozen)' if key[1] else ''}"] = {
            "arm": key[0], "freeze_word_embeddings": key[1], "n": len(rs), "test_mean": m, "test_half_interval": h,
            "relative_change": {part: mean(r["relative_change"][part] for r in rs) for part in rs[0]["relative_change"]},
            "epoch_train_loss": [mean(epoch) for epoch in zip(*(r["epoch_train_loss"] for r in rs))],
            "pair_cosine_before": mean(mean(r["neighbours_before"]["pair_cosine"].values()) for r in rs),
            "pair_cosine_after": mean(mean(r["neighbours_after"]["pair_cosine"].values()) for r in rs)}

    def paired(a, b):
        acc = lambda arm, frozen: {r["seed"]: r["test_accuracy"] for r in runs  # noqa: E731
                                   if r["arm"] == arm and r["freeze_word_embeddings"] == frozen}
        x, y = acc(*a), acc(*b)
        diff = [x[s] - y[s] for s in sorted(set(x) & set(y))]
        if len(diff) < 2:
            return None
        m, h = mean_interval(diff)
        return {"mean": m, "half_interval": h, "n": len(diff), "beyond_noise": abs(m) > h}
    return {"arms": arms, "paired": {
        "pretrained minus scratch": paired(("pretrained", False), ("scratch", False)),
        "pretrained, word embeddings frozen minus trained": paired(("pretrained", True), ("pretrained", False)),
        "scratch, word embeddings frozen minus trained": paired(("scratch", True), ("scratch", False)),
        "pretrained minus scratch, both with word embeddings frozen": paired(("pretrained", True), ("scratch", True))}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--labels", type=int, default=3000, help="training sentences (a count of the learning curve)")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args(argv)
    curve = json.loads(CURVE.read_text())
    rates = {r["model"]: r["chosen_lr"] for r in curve["lr_selection"] if r["n"] == str(args.labels)}
    if {"pretrained", "scratch"} - set(rates):
        print(f"error: --labels {args.labels}: learning_curve.json has no rate chosen there; pick one of "
              f"{sorted({r['n'] for r in curve['lr_selection']})}", file=sys.stderr)
        return 2
    checkpoint = ROOT / "benchmarks" / "results" / "checkpoints" / curve["checkpoint"]["name"]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from learning_curve import subset  # the learning curve's own subsets: the same sentences for each seed

    from bert_edu.data import sentiment

    splits = sentiment.sentiment_splits()
    val, test = splits["validation"][:EVAL_EXAMPLES], splits["test"]
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {"description": __doc__.split("\n")[0], "labels": args.labels, "seeds": seeds,
               "checkpoint": curve["checkpoint"]["name"], "rates": rates,
               "rates_source": "learning_curve.json lr_selection (chosen on validation for each arm at this count)",
               "machine": f"{platform.machine()} CPU, torch {torch.__version__}",
               "command": "OMP_NUM_THREADS=1 python benchmarks/why_pretraining.py " + " ".join(argv or sys.argv[1:]),
               "runs": []}
    out = Path(args.out)
    for seed in seeds:
        train = subset(splits["train"], args.labels, seed)
        for arm in ("pretrained", "scratch"):
            for frozen in (False, True):
                start = time.perf_counter()
                row = run(arm, checkpoint, train, val, test, seed, rates[arm], frozen)
                row["seconds"] = round(time.perf_counter() - start, 1)
                results["runs"].append(row)
                results["summary"] = summarise(results["runs"])
                print(f"{arm:10} frozen={frozen!s:5} seed {seed}: test {row['test_accuracy']:.3f}", file=sys.stderr)
                tmp = out.with_suffix(".tmp")
                tmp.write_text(json.dumps(results, indent=1) + "\n")
                os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
