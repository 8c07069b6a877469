"""`make gpu-check` (benchmarks/gpu_check.py) as far as a machine without a GPU can check it: the plan, the
loud failure without CUDA, running a step under its time limit, and the summary table."""

import importlib.util
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
sys.modules["gpu_check"] = gpu_check  # dataclasses look their module up there
spec.loader.exec_module(gpu_check)


def test_the_makefile_runs_it():
    makefile = (ROOT / "Makefile").read_text()
    assert "gpu-check:" in makefile and "benchmarks/gpu_check.py" in makefile


def test_dry_run_lists_every_step(capsys, tmp_path):
    assert gpu_check.main(["--dry-run", "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("0. GPU smoke suite") and "-m gpu tests/gpu" in out  # it runs first
    assert "--batch-size 256" in out and "--compile" in out  # the benchmark without and with torch.compile
    for needle in ("07_pretraining.ipynb", "08_finetune_sentiment.ipynb", "--nbval-lax", "bench_pretraining.py",
                   "--size base", "bert_edu.finetune", "--epochs 3", "bert_edu.data sentiment",
                   "10_named_entities.ipynb", "11_question_answering.ipynb", "bert_edu.ner", "conll2003/test.txt",
                   "bert_edu.qa", "squaddev_v1.1.json", "nyt_v1.0.json", "--epochs 2"):
        assert needle in out, needle
    steps = gpu_check.plan(sys.executable, tmp_path)
    assert sum(s.limit for s in steps) <= gpu_check.BUDGET_SECONDS + 60  # each step fits; the budget caps all


def test_steps_picks_some_and_keeps_their_numbers(capsys, tmp_path):
    assert gpu_check.main(["--dry-run", "--work", str(tmp_path), "--steps", "5", "2"]) == 0
    out = capsys.readouterr().out
    numbered = [line for line in out.splitlines() if line[:1].isdigit()]
    assert [line.split(".")[0] for line in numbered] == ["2", "5"]
    assert "10_named_entities" in out and "bert_edu.ner" in out and "bench_pretraining" not in out
    assert gpu_check.main(["--dry-run", "--steps", "7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --steps 7: there are steps 0 to 6") and err.count("\n") == 1
    assert gpu_check.main(["--dry-run", "--steps", "0"]) == 0
    assert "tests/gpu" in capsys.readouterr().out


def test_ner_and_qa_figures_are_read_from_their_json_lines(tmp_path):
    ner = json.dumps({"f1": 0.9012, "precision": 0.9, "recall": 0.9025, "seconds": 61.2})
    assert gpu_check.read_figures("ner", "epoch 1/3 ...\n" + ner + "\n", tmp_path)["test F1"] == "90.1%"
    qa = json.dumps({"f1": 0.7, "exact_match": 0.55, "eval_f1": 0.8, "seconds": 99.0})
    figures = gpu_check.read_figures("qa", qa, tmp_path)
    assert figures["NYT F1"] == "70.0%" and figures["NYT EM"] == "55.0%" and figures["new-wiki F1"] == "80.0%"


def test_without_cuda_it_fails_loudly(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("BERT_EDU_DEVICE", raising=False)
    assert gpu_check.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: make gpu-check needs a CUDA GPU") and err.count("\n") == 1
    monkeypatch.setenv("BERT_EDU_DEVICE", "cpu")
    assert "BERT_EDU_DEVICE=cpu" in gpu_check.cuda_problem()


def test_a_step_runs_under_its_limit_and_the_table_shows_it(tmp_path):
    ok = gpu_check.Step("fine", [[sys.executable, "-c", "print('hello')"]], limit=30)
    slow = gpu_check.Step("slow", [[sys.executable, "-c", "import time; time.sleep(30)"]], limit=30)
    bad = gpu_check.Step("bad", [[sys.executable, "-c", "raise SystemExit(3)"]], limit=30)
    gpu_check.run_step(ok, tmp_path / "ok.log", 30, env=None)
    gpu_check.run_step(slow, tmp_path / "slow.log", seconds_left=1, env=None)  # the budget wins over the limit
    gpu_check.run_step(bad, tmp_path / "bad.log", 30, env=None)
    assert ok.status == "ok" and "hello" in (tmp_path / "ok.log").read_text()
    assert slow.status.startswith("TIMEOUT") and slow.seconds < 10
    talks = gpu_check.Step("talks", [[sys.executable, "-u", "-c",
                                      "import time; print('cell 1 PASSED', flush=True); time.sleep(30)"]], limit=3)
    gpu_check.run_step(talks, tmp_path / "talks.log", 30, env=None)
    assert talks.status.startswith("TIMEOUT") and "cell 1 PASSED" in (tmp_path / "talks.log").read_text()
    assert bad.status == "FAIL (exit 3)"
    table = gpu_check.summary([ok, slow, bad], "a test GPU")
    assert "a test GPU" in table and "SOME STEPS FAILED" in table and len(table.splitlines()) == 6


def test_figures_are_read_from_the_outputs(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps({
        "dtype": "bf16", "ours": {"tokens_per_second": 2000.0, "mfu": 0.4},
        "transformers": {"tokens_per_second": 1000.0, "mfu": 0.2}}))
    bench = gpu_check.read_figures("bench", "", tmp_path)
    assert bench["ratio"] == "2.00x" and bench["ours MFU"] == "40.0%" and "ratio (compiled)" not in bench
    (tmp_path / "bench-compile.json").write_text(json.dumps({
        "dtype": "bf16", "ours": {"tokens_per_second": 3000.0, "mfu": 0.6},
        "transformers": {"tokens_per_second": 2000.0, "mfu": 0.4}}))
    bench = gpu_check.read_figures("bench", "", tmp_path)
    assert bench["ratio (compiled)"] == "1.50x" and bench["ours MFU (compiled)"] == "60.0%"
    line = json.dumps({"test_accuracy": 0.85, "accuracy": 0.83, "seconds": 41.0})
    assert gpu_check.read_figures("finetune", "progress\n" + line + "\n", tmp_path)["test accuracy"] == "85.0%"


def test_the_benchmark_writes_what_the_check_reads(tmp_path):
    """bench_pretraining's --json (here tiny, on the CPU) holds the figures the summary table shows."""
    spec = importlib.util.spec_from_file_location("bench_pretraining", ROOT / "benchmarks" / "bench_pretraining.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--size", "tiny", "--batch-size", "4", "--seq-len", "32", "--steps", "2", "--rounds", "1",
            "--warmup", "1", "--json", str(tmp_path / "bench.json")]
    assert bench.main(args) == 0
    figures = gpu_check.read_figures("bench", "", tmp_path)
    assert figures["dtype"] == "fp32" and figures["ratio"].endswith("x") and "ours MFU" not in figures
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["step"] == "bert_edu.train.pretrain.train_step" and result["flops_source"] == "bert_edu.analysis.cost"
    from bert_edu.analysis.cost import Shape, training_flops_per_token

    config = dict(num_hidden_layers=result["layers"], hidden_size=result["hidden"], intermediate_size=4 * result["hidden"],
                  vocab_size=result["vocab_size"])
    assert result["flops_per_token"] == training_flops_per_token(Shape.of(config), 32)["total"]
    assert bench.peak_tflops("NVIDIA H100 PCIe") == 756 and bench.peak_tflops("NVIDIA H200") == 989
    assert bench.peak_tflops("Tesla T4") == 65 and bench.peak_tflops("a GPU we do not know") is None
    assert bench.main(["--dtype", "bf16"]) == 2  # bf16 needs a CUDA GPU: one error line, no traceback


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_device_run_takes_the_stages_in_priority_order(tmp_path, capsys):
    """benchmarks/device_run.py: smoke suite, benchmark without and with --compile, notebooks 07 + 08, exchange rate."""
    device_run = _load("device_run")
    plan = device_run.stages(sys.executable, tmp_path, dry_run=False, budget=150)
    commands = [" ".join(s.commands[0]) for s in plan]
    assert "tests/gpu" in commands[0] and "bench_pretraining.py" in commands[1] and "--compile" not in commands[1]
    assert "--compile" in commands[2] and "07_pretraining.ipynb" in commands[3] and "08_" in commands[3]
    assert "exchange_rate_gpu.py" in commands[4] and "--phase pretrain" in commands[4]
    assert sum(s.limit for s in plan[:3]) <= device_run.BUDGET_SECONDS  # the first three fit in one call
    dry = device_run.stages(sys.executable, tmp_path, dry_run=True, budget=150)
    assert "--dry-run" in dry[4].commands[0] and "cuda" not in " ".join(dry[1].commands[0])
    assert device_run.main(["--steps", "9", "--work", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: --steps")


def test_the_exchange_rate_dry_run_shrinks_every_step():
    er = _load("exchange_rate_gpu")
    real = er.parse_args(["--device", "cuda"])
    assert real.multiples == [1.0, 16.0, 128.0] and real.labels == [100, 300, 1000] and real.seeds == [0, 1, 2]
    assert real.base_tokens == 700 * 128 * 64 and len(real.lrs) >= 2
    dry = er.parse_args(["--dry-run"])
    assert dry.device == "cpu" and dry.labels == [20] and dry.seeds == [0] and dry.base_tokens < real.base_tokens / 100
    assert "exchange-rate-gpu-dry-" in str(dry.out)  # a dry run never writes into benchmarks/results
