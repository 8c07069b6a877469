"""The README's full-data and GPU figures are the ones in benchmarks/results/*.json (the runs that made them)."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "benchmarks" / "results"


def _in_readme(text: str) -> None:
    assert text in README, f"README.md does not show {text!r} (from benchmarks/results)"


def test_full_data_ner_figures():
    full = json.loads((RESULTS / "ner_qa.json").read_text())["ner_full"]
    assert [run["seed"] for run in full["runs"]] == [0, 1]
    assert all(run["n_train_sentences"] == 14041 and run["n_test_sentences"] == 3453 for run in full["runs"])
    for run in full["runs"]:
        _in_readme(f"{100 * run['f1']:.2f}")
    mean = sum(run["f1"] for run in full["runs"]) / len(full["runs"])
    _in_readme(f"test entity F1 {100 * mean:.1f}%")
    for kind, f1 in full["runs"][0]["per_type"].items():
        _in_readme(f"{kind} {100 * f1:.1f}")


def test_full_data_qa_figures():
    full = json.loads((RESULTS / "ner_qa.json").read_text())["qa_full"]
    assert all(run["n_train_questions"] == 10565 and run["n_test_questions"] == 10056 for run in full["runs"])
    for run in full["runs"]:
        _in_readme(f"**{100 * run['f1']:.1f} ± ")
        _in_readme(f"/ {100 * run['exact_match']:.1f}")
    for seed, splits in full["shifts"].items():
        for name, row in splits.items():
            if name != "squad_dev":
                _in_readme(f"{100 * row['f1']:.1f} ± {100 * row['f1_half_interval']:.1f}")
    _in_readme(f"{100 * full['shifts']['seed 0']['squad_dev']['f1']:.1f} F1: a fit, not a test")


def test_gpu_check_figures():
    bench = json.loads((RESULTS / "gpu_check.json").read_text())["steps"]["3 pretraining benchmark"]
    _in_readme(f"{bench['ours_tokens_per_second']:,d} vs `transformers` {bench['transformers_tokens_per_second']:,d}")
    _in_readme(f"({bench['ratio']:.2f}x, MFU {100 * bench['ours_mfu']:.1f}% vs {100 * bench['transformers_mfu']:.1f}%)")
    sentiment = json.loads((RESULTS / "gpu_check.json").read_text())["steps"]["4 full-data sentiment"]
    _in_readme(f"{100 * sentiment['test_accuracy']:.1f}% (validation {100 * sentiment['validation_accuracy']:.1f}%) "
               f"in {sentiment['train_seconds']} s")


def test_qa_learning_rate_figures_and_the_default():
    from bert_edu.train.qa import DEFAULTS

    runs = json.loads((RESULTS / "ner_qa.json").read_text())["qa_lr"]["runs"]
    _in_readme(" / ".join(f"{100 * run['eval_f1']:.1f}" for run in runs) + "% at lr "
               + " / ".join(f"{run['lr']:.0e}".replace("e-0", "e-") for run in runs))
    best = max(runs, key=lambda run: run["eval_f1"])
    assert best["lr"] == DEFAULTS["lr"], "the QA command line's default lr is not the best one measured"


# ------------------------------------------------------------------------------------------------ row by row (issue 26)
# The checks above look for a string anywhere in the README. The ones below find the README row of each results
# file by the text of its first column and check every figure inside *that* row, in its place: a swapped pair of
# rows, or a stale row beside a correct one, fails.

MAJORITY = 737 / 1275  # Rotten Tomatoes test split: 737 of 1,275 sentences are positive
MINORITY = 538 / 1275


def readme_row(key: str, readme: str = README) -> str:
    """The one table row whose first column starts with ``key``."""
    rows = [line for line in readme.splitlines()
            if line.startswith("|") and len(line.split("|")) > 2 and line.split("|")[1].strip().startswith(key)]
    assert len(rows) == 1, f"README.md has {len(rows)} table rows whose first column starts with {key!r}, not 1"
    return rows[0]


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return text.replace("-", "\u2212") if not text.startswith("+0.0") else text


def collapsed(accuracy: float) -> bool:
    """A run that predicts one class for every test sentence scores exactly the majority or the minority share."""
    return abs(accuracy - MAJORITY) < 1e-6 or abs(accuracy - MINORITY) < 1e-6


def learning_curve_expectations(data: dict) -> list[str]:
    """The fragments the learning-curve row must contain, each naming its arm, from learning_curve.json: the bag of
    words from its runs, every BERT arm at the rate chosen on validation (``lr_selection``), the chosen rates, the
    paired differences at those rates and the collapsed runs of the whole sweep."""
    from bert_edu.analysis.stats import mean_interval

    sizes = [100, 300, 1000, 3000, "all"]
    acc, rate = {}, {}
    for run in data["runs"]:  # the arms with one setting: the bag of words, and MiniLM when it has no sweep
        if run["model"] == "bow" or (run["model"] == "minilm" and not any(
                r["model"] == "minilm" for r in data["lr_selection"])):
            acc.setdefault((run["model"], run["n"]), {})[run["seed"]] = 100 * run["test_accuracy"]
    for row in data["lr_selection"]:
        n = row["n"] if row["n"] == "all" else int(row["n"])
        acc[row["model"], n] = {s: 100 * a for s, a in zip(row["seeds"], row["test_accuracy"])}
        rate[row["model"], n] = row["chosen_lr"]

    def cell(model, n):
        m, h = mean_interval(list(acc[(model, n)].values()))
        return f"{m:.1f} ± {h:.1f}"
    want = []
    for label, model in (("own pretrained tiny model", "pretrained"), ("from random weights", "scratch")):
        want.append(f"{label} " + " / ".join(cell(model, n) for n in sizes))
    want.append("bag of words " + " / ".join(f"{sum(acc[('bow', n)].values()) / len(acc[('bow', n)]):.1f}"
                                             for n in sizes))
    minilm = [n for n in sizes if ("minilm", n) in acc]
    want.append("MiniLM " + " / ".join(cell("minilm", n) for n in minilm))
    for label, model in (("own pretrained", "pretrained"), ("random weights", "scratch"), ("MiniLM", "minilm")):
        if any((model, n) in rate for n in sizes):
            want.append(f"{label} chose " + " / ".join(f"{rate[model, n]:g}" for n in sizes
                                                                if (model, n) in rate))
    diffs = []
    for n in sizes:
        seeds = sorted(acc[("pretrained", n)])
        m, h = mean_interval([acc[("pretrained", n)][s] - acc[("scratch", n)][s] for s in seeds])
        diffs.append(f"{_signed(m)} ± {h:.1f}")
    want.append("paired by seed, each at its own rate: " + " / ".join(diffs))
    sweep = [run for run in data["runs"] if run["model"] in ("pretrained", "scratch")]
    chosen = [run for run in sweep if rate.get((run["model"], run["n"] if run["n"] == "all" else int(run["n"])))
              == run["lr"]]
    want.append(f"{sum(collapsed(r['test_accuracy']) for r in sweep)} of the {len(sweep)} runs of the tiny models' "
                f"sweep predicted one class ({sum(collapsed(r['test_accuracy']) for r in chosen)} of {len(chosen)} at "
                "the chosen rates)")
    return want


def exchange_rate_expectations(data: dict) -> list[str]:
    """The fragments the exchange-rate row must contain, from exchange_rate.json: the budgets' held-out scores, the
    accuracies at 300 labels at the chosen rates, every budget's chosen rates and paired differences, the verdict
    the intervals support, and the collapsed runs."""
    budgets = [b for b in data["budgets"] if b["steps"] > 0]
    at300 = {row["steps"]: row["mean"] for row in data["summary"] if row["labels"] == 300}
    want = ["held-out MLM accuracy " + " / ".join(f"{100 * b['mlm_accuracy']:.1f}" for b in budgets) + "%",
            "NSP " + " / ".join(f"{100 * b['nsp_accuracy']:.1f}" for b in budgets) + "%",
            "at 300 labels " + " / ".join(f"{100 * at300[b['steps']]:.1f}" for b in budgets)
            + f"% against {100 * at300[0]:.1f}% from random weights"]
    for b in data["budgets"]:
        rows = sorted((r for r in data["lr_selection"] if r["steps"] == b["steps"]), key=lambda r: r["labels"])
        want.append(f"{b['steps']:,}: " + " / ".join(f"{r['chosen_lr']:g}" for r in rows))
    for b in budgets:
        rows = sorted((p for p in data["paired"] if p["steps"] == b["steps"]), key=lambda p: p["labels"])
        want.append(f"{b['steps']:,} steps " + " / ".join(f"{_signed(100 * p['mean'])} ± {100 * p['ci95']:.1f}"
                                                           for p in rows))
    ahead = [p for p in data["paired"] if p["beyond_noise"] and p["mean"] > 0]
    behind = [p for p in data["paired"] if p["beyond_noise"] and p["mean"] < 0]
    if not ahead and all(p["mean"] <= 0 for p in data["paired"]):
        want.append("No budget is ahead of random weights at any label count")
    want.append(f"{len(behind)} differences are behind beyond the noise ("
                + ", ".join(f"{p['steps']:,} steps at {p['labels']:,} labels" for p in behind) + ")")
    chosen = sum(row["n"] for row in data["summary"])
    want.append(f"{sum(collapsed(run['test_accuracy']) for run in data['runs'])} of the {len(data['runs'])} runs of "
                f"the sweep predicted one class ({sum(row['collapsed'] for row in data['summary'])} of {chosen} at "
                "the chosen rates)")
    return want


def missing_in_row(row: str, expected: list[str]) -> list[str]:
    return [text for text in expected if text not in row]


def test_learning_curve_row_matches_the_json_arm_by_arm():
    data = json.loads((RESULTS / "learning_curve.json").read_text())
    row = readme_row("learning curve (`benchmarks/results/learning_curve.json`")
    assert not missing_in_row(row, learning_curve_expectations(data)), missing_in_row(
        row, learning_curve_expectations(data))


def test_exchange_rate_row_matches_the_json():
    data = json.loads((RESULTS / "exchange_rate.json").read_text())
    row = readme_row("exchange rate (`benchmarks/results/exchange_rate.json`")
    assert not missing_in_row(row, exchange_rate_expectations(data)), missing_in_row(
        row, exchange_rate_expectations(data))


def test_cpu_ner_and_qa_benchmark_rows():
    results = json.loads((RESULTS / "ner_qa.json").read_text())
    ner, qa = results["ner"], results["qa"]
    row = readme_row("NER: `python -m bert_edu.ner` vs the plain `transformers` recipe")
    mean = lambda key: sum(run[key]["f1"] for run in ner["runs"]) / len(ner["runs"])  # noqa: E731
    assert f"{100 * mean('cli'):.1f}" in row and f"{100 * mean('transformers'):.1f}" in row
    row = readme_row("QA: `python -m bert_edu.qa` vs the plain `transformers` recipe")
    run = qa["runs"][0]
    assert (f"F1 {100 * run['cli']['f1']:.1f}% / exact match {100 * run['cli']['exact_match']:.1f}% (command line) vs "
            f"F1 {100 * run['transformers']['f1']:.1f}% / exact match {100 * run['transformers']['exact_match']:.1f}%"
            ) in row
    assert f"+{100 * qa['cli_minus_transformers']:.1f} F1 points" in row


def qa_full_table_problems(readme: str, full: dict) -> list[str]:
    """Each SQuADShifts row of the full-data QA table holds seed 0's figures in the seed-0 column and seed 1's in
    the seed-1 column."""
    names = {"new_wiki": "SQuADShifts new Wikipedia", "nyt": "SQuADShifts New York Times",
             "reddit": "SQuADShifts Reddit", "amazon": "SQuADShifts Amazon reviews"}
    problems = []
    for split, label in names.items():
        cells = [c.strip() for c in readme_row(label, readme).split("|")[2:4]]
        for column, seed in zip(cells, ("seed 0", "seed 1")):
            row = full["shifts"][seed].get(split)
            want = (f"{100 * row['f1']:.1f} ± {100 * row['f1_half_interval']:.1f}** / {100 * row['exact_match']:.1f}"
                    if row else "not reached")
            if want.replace("**", "") not in column.replace("**", ""):
                problems.append(f"{label}, {seed}: {column!r} should show {want.replace('**', '')!r}")
    return problems


def test_full_data_qa_table_row_by_row():
    full = json.loads((RESULTS / "ner_qa.json").read_text())["qa_full"]
    assert not qa_full_table_problems(README, full)


# ------------------------------------------------------------------------------------------------ shown to fail


def test_row_check_fails_when_two_arms_are_swapped():
    """The audited hole: every figure was somewhere in the README, so swapped rows passed."""
    data = json.loads((RESULTS / "learning_curve.json").read_text())
    row = readme_row("learning curve (`benchmarks/results/learning_curve.json`")
    a, b = learning_curve_expectations(data)[:2]
    pa, pb = a.split(" ", 3)[-1], b.split(" ", 3)[-1]
    swapped = row.replace(pa, "@@").replace(pb, pa).replace("@@", pb)
    assert missing_in_row(swapped, learning_curve_expectations(data))


def test_row_check_fails_on_seeds_swapped_in_the_qa_table():
    full = json.loads((RESULTS / "ner_qa.json").read_text())["qa_full"]
    swapped = README.replace("| 63.2 ± 0.8 / 48.4 | 62.9 ± 0.8 / 48.3 |", "| 62.9 ± 0.8 / 48.3 | 63.2 ± 0.8 / 48.4 |")
    assert swapped != README
    assert qa_full_table_problems(swapped, full)


def test_row_check_fails_on_a_stale_row_next_to_the_json():
    """S1: a row whose figures no results file holds (74.4%, 4 epochs) is not counted as covered."""
    fixture = "| what | result |\n| --- | --- |\n| learning curve (`benchmarks/results/learning_curve.json`) | 74.4% |\n"
    data = json.loads((RESULTS / "learning_curve.json").read_text())
    assert missing_in_row(readme_row("learning curve (`benchmarks/results/learning_curve.json`", fixture),
                          learning_curve_expectations(data))


def test_exchange_rate_row_check_fails_on_the_shared_rate_row_and_on_a_wrong_verdict():
    """The row written when every budget was fine-tuned at one rate (5e-4) no longer passes, and a row that calls a
    budget ahead, or counts the differences beyond the noise wrongly, fails."""
    data = json.loads((RESULTS / "exchange_rate.json").read_text())
    old = ("| exchange rate (`benchmarks/results/exchange_rate.json`: ...) | held-out MLM accuracy 9.7 / 13.0 / 15.2 / "
           "38.2%, NSP 51.3 / 56.0 / 75.6 / 83.5%; yet at 300 labels 60.3 / 56.1 / 58.3 / 57.8% against 63.0% from "
           "random weights (lr 5e-4 for every tiny model; 5 of 45 runs predicted one class) |")
    fixture = "| what | result |\n| --- | --- |\n" + old + "\n"
    assert missing_in_row(readme_row("exchange rate (`benchmarks/results/exchange_rate.json`", fixture),
                          exchange_rate_expectations(data))
    row = readme_row("exchange rate (`benchmarks/results/exchange_rate.json`")
    behind = sum(p["beyond_noise"] and p["mean"] < 0 for p in data["paired"])
    wrong = row.replace(f"{behind} differences are behind", f"{behind + 1} differences are behind")
    assert wrong != row and missing_in_row(wrong, exchange_rate_expectations(data))
    flipped = {**data, "paired": [{**p, "mean": abs(p["mean"]), "beyond_noise": True} for p in data["paired"]]}
    assert "No budget is ahead of random weights at any label count" not in exchange_rate_expectations(flipped)


def why_pretraining_expectations(data: dict) -> list[str]:
    """The fragments of the why-pretraining row, from why_pretraining.json's summary and runs."""
    arms, paired = data["summary"]["arms"], data["summary"]["paired"]

    def diff(key):
        return f"{_signed(100 * paired[key]['mean'])} ± {100 * paired[key]['half_interval']:.1f}"
    first = next(r for r in data["runs"] if r["arm"] == "pretrained" and not r["freeze_word_embeddings"]
                 and r["seed"] == min(data["seeds"]))
    frozen = arms["scratch (word embeddings frozen)"]
    want = [f"test accuracy {100 * arms['pretrained']['test_mean']:.1f} ± {100 * arms['pretrained']['test_half_interval']:.1f}"
            f" (pretrained) vs {100 * arms['scratch']['test_mean']:.1f} ± {100 * arms['scratch']['test_half_interval']:.1f}"
            f" (random init), paired {diff('pretrained minus scratch')} points",
            f"last-epoch training loss {arms['pretrained']['epoch_train_loss'][-1]:.3f} vs "
            f"{arms['scratch']['epoch_train_loss'][-1]:.3f}",
            f"random init falls to {100 * frozen['test_mean']:.1f}%",
            f"in every seed; {diff('scratch, word embeddings frozen minus trained')})",
            f"ahead of it by {diff('pretrained minus scratch, both with word embeddings frozen')} points",
            f"\"good\" and \"bad\" {first['neighbours_before']['pair_cosine']['good / bad']:.2f}"]
    if all(collapsed(r["test_accuracy"]) for r in data["runs"]
           if r["arm"] == "scratch" and r["freeze_word_embeddings"]):
        want.append("the majority class in every seed")
    if paired["pretrained minus scratch, both with word embeddings frozen"]["beyond_noise"]:
        want.append("the pretrained start is ahead of it")
    return want


def test_why_pretraining_row_matches_the_json():
    data = json.loads((RESULTS / "why_pretraining.json").read_text())
    row = readme_row("why the pretrained start is behind at 3,000 labels")
    assert not missing_in_row(row, why_pretraining_expectations(data)), missing_in_row(
        row, why_pretraining_expectations(data))
    wrong = row.replace("fits its training sentences faster", "fits faster").replace(
        f"{data['summary']['arms']['pretrained']['epoch_train_loss'][-1]:.3f} vs", "0.284 vs")
    assert missing_in_row(wrong, why_pretraining_expectations(data)), "a swapped loss must fail"


def test_readme_python_version_is_the_package_s():
    import tomllib

    needs = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    said = re.search(r"You need Python (>=\s*[\d.]+)", README)
    assert said and said[1].replace(" ", "") == needs, f"README must say the Python the package needs ({needs})"


# ------------------------------------------------------------------------------------------------ notebook 13 (issue 29)

CHINESE_SIZES = ["100", "300", "1000", "all"]


def chinese_curve_expectations(data: dict, lang: str = "en") -> list[str]:
    """The fragments of the Chinese learning curve's README row, each naming its arm, recomputed from the runs."""
    from bert_edu.analysis.stats import mean_interval

    acc = {}
    for run in data["runs"]:
        acc.setdefault((run["arm"], str(run["n"])), {})[run["seed"]] = 100 * run["test_accuracy"]

    def cell(arm, n):
        m, h = mean_interval(list(acc[(arm, n)].values()))
        return f"{m:.1f} ± {h:.1f}"

    labels = {"en": ("own pretrained ", "from random weights ", "character n-grams ", "paired by seed: "),
              "zh": ("自己预训练 ", "随机初始化 ", "字 n 元语法 ", "按种子配对：")}[lang]
    want = [labels[i] + " / ".join(cell(arm, n) for n in CHINESE_SIZES)
            for i, arm in enumerate(("pretrained", "scratch", "ngrams"))]
    diffs = []
    for n in CHINESE_SIZES:
        seeds = sorted(acc[("pretrained", n)])
        m, h = mean_interval([acc[("pretrained", n)][s] - acc[("scratch", n)][s] for s in seeds])
        diffs.append(f"{_signed(m)} ± {h:.1f}")
    want.append(labels[3] + " / ".join(diffs))
    bert = [run for run in data["runs"] if run["arm"] != "ngrams"]
    k = sum(bool(run["collapsed"]) for run in bert)
    want.append(f"{k} of {len(bert)} runs predicted one class" if lang == "en" else f"{len(bert)} 次运行中有 {k} 次只预测一类")
    mlm = f"{100 * data['pretraining']['final']['mlm_accuracy']:.1f}%"
    want.append(f"held-out MLM accuracy {mlm}" if lang == "en" else f"留出集 MLM 精度 {mlm}")
    return want


def test_chinese_learning_curve_is_a_fair_complete_run():
    """Three arms x four sizes x three seeds; each BERT arm's learning rate chosen on validation at each size (the
    grid and the choice recorded); every run says whether it collapsed to one class; the summary is the runs'."""
    from bert_edu.analysis.stats import mean_interval

    data = json.loads((RESULTS / "chinese_learning_curve.json").read_text())
    assert data["dry_run"] is False and "benchmarks/chinese_learning_curve.py" in data["command"]
    cells = {}
    for run in data["runs"]:
        cells.setdefault((run["arm"], str(run["n"])), []).append(run)
    assert set(cells) == {(a, n) for a in ("ngrams", "scratch", "pretrained") for n in CHINESE_SIZES}
    for (arm, n), runs in cells.items():
        assert sorted(r["seed"] for r in runs) == [0, 1, 2], (arm, n)
        if arm != "ngrams":
            assert all(isinstance(r["collapsed"], bool) for r in runs)
            choice = next(c for c in data["lr_choice"] if c["arm"] == arm and str(c["n"]) == n)
            assert len(choice["validation"]) >= 3
            assert float(max(choice["validation"], key=lambda lr: (choice["validation"][lr], -float(lr)))) \
                == choice["chosen"]
            assert {r["lr"] for r in runs} == {choice["chosen"]}
        row = next(r for r in data["summary"] if r["arm"] == arm and str(r["n"]) == n)
        m, h = mean_interval([r["test_accuracy"] for r in runs])
        assert abs(row["mean"] - m) < 1e-9 and abs(row["half_width"] - h) < 1e-9


def test_chinese_learning_curve_rows_in_both_readmes():
    data = json.loads((RESULTS / "chinese_learning_curve.json").read_text())
    row = readme_row("Chinese learning curve (`benchmarks/results/chinese_learning_curve.json`")
    assert not missing_in_row(row, chinese_curve_expectations(data)), missing_in_row(row, chinese_curve_expectations(data))
    zh_readme = (ROOT / "README.zh-CN.md").read_text()
    zh_row = readme_row("中文学习曲线（`benchmarks/results/chinese_learning_curve.json`", zh_readme)
    missing = missing_in_row(zh_row, chinese_curve_expectations(data, "zh"))
    assert not missing, missing


def test_the_chinese_row_check_fails_on_swapped_arms():
    data = json.loads((RESULTS / "chinese_learning_curve.json").read_text())
    want = chinese_curve_expectations(data)
    swapped = "| x | " + want[1].replace("from random weights", "own pretrained") + "; " + \
        want[0].replace("own pretrained", "from random weights") + " |"
    assert missing_in_row(swapped, want[:2])


def test_ner_learning_rate_row_and_the_default_are_the_three_seed_sweep():
    """The NER command line's default learning rate has the best mean validation F1 over three seeds, in a sweep
    that goes past it on both sides, and the README row is that sweep's (issue 26)."""
    from bert_edu.analysis.stats import mean_interval
    from bert_edu.train.ner import DEFAULTS

    runs = json.loads((RESULTS / "ner_qa.json").read_text())["ner_lr"]["runs"]
    f1 = {}
    for run in runs:
        f1.setdefault(run["lr"], {})[run["seed"]] = 100 * run["eval_f1"]
    swept = {lr: seeds for lr, seeds in f1.items() if sorted(seeds) == [0, 1, 2]}
    assert min(f1) < DEFAULTS["lr"] < max(swept), "the sweep does not bracket the default"
    best = max(swept, key=lambda lr: sum(swept[lr].values()))
    assert best == DEFAULTS["lr"], f"the best mean is at lr {best}, the command line's default is {DEFAULTS['lr']}"
    row = readme_row("NER learning rate (`bench_ner_qa.py ner-lr`")
    cells = []
    for lr in sorted(swept):
        m, h = mean_interval(list(swept[lr].values()))
        cells.append(f"{m:.1f} ± {h:.1f}")
    assert " / ".join(cells) + "% at lr" in row, row
    for lr in sorted(swept):
        if lr != DEFAULTS["lr"]:
            m, h = mean_interval([swept[lr][s] - swept[DEFAULTS["lr"]][s] for s in (0, 1, 2)])
            assert f"{_signed(m)} ± {h:.1f}" in row, (lr, row)
