"""One command-line surface (issue 24): the training commands name each concept with one flag, give the
task-independent ones one default, say where each task default comes from, share one help formatter, report
results in one JSON schema and show the name the user typed. Everything here runs in this process (the
parsers are built and ``--help`` is called in-process), except one smoke test of the installed ``bert-edu``."""

import argparse
import dataclasses
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bert_edu.train import cli, common

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"pretrain": "bert_edu.train.pretrain", "finetune": "bert_edu.train.classify",
            "ner": "bert_edu.train.ner", "qa": "bert_edu.train.qa", "predict": "bert_edu.train.predict"}
TASK = object()  # a default that may differ by task (measured on validation data); its help says where from

# concept -> (its one flag, its one default or TASK, the names it must NOT go by)
CONCEPTS = {
    "seed": ("--seed", 0, ["--random-seed"]),
    "device": ("--device", None, ["--gpu", "--cuda"]),
    "mixed precision": ("--mixed-precision", "auto", ["--fp16", "--bf16", "--amp", "--precision"]),
    "warmup": ("--warmup-ratio", 0.1, ["--warmup", "--warmup-proportion"]),
    "weight decay": ("--weight-decay", 0.01, ["--wd", "--decay"]),
    "max grad norm": ("--max-grad-norm", 1.0, ["--clip", "--grad-clip", "--clip-norm"]),
    "progress": ("--no-progress", True, ["--progress", "--quiet"]),
    "max length": ("--max-length", TASK, ["--seq-len", "--max-seq-length", "--max-len", "--seq-length"]),
    "learning rate": ("--lr", TASK, ["--learning-rate"]),
    "batch size": ("--batch-size", TASK, ["--bs", "--train-batch-size"]),
    "epochs": ("--epochs", TASK, ["--num-epochs", "--n-epochs"]),
    "training subset": ("--max-train-examples", None, ["--max-train-sentences", "--max-train-questions"]),
    "start weights": ("--init", "minilm", ["--model-init", "--from"]),
    "architecture": ("--size", TASK, ["--model-size"]),
    "output folder": ("--out", TASK, ["--output", "--output-dir", "--out-dir"]),
    "bucketing": ("--bucket", TASK, ["--bucketing", "--sort-by-length"]),
}
TRAINING = {"seed", "device", "mixed precision", "warmup", "weight decay", "max grad norm", "progress",
            "max length", "learning rate", "batch size", "architecture", "output folder"}
FINETUNING = TRAINING | {"epochs", "training subset", "start weights", "bucketing"}
EXPECTED = {"pretrain": TRAINING, "finetune": FINETUNING, "ner": FINETUNING, "qa": FINETUNING,
            "predict": {"device", "max length"}}
# older flag names kept working as second names of a concept's flag (outside scripts call them)
ALIASES = {"--seq-len": "--max-length", "--max-train-sentences": "--max-train-examples"}
TASK_DEFAULT_SOURCE = re.compile(r"notebook|measured|benchmarks|paper|sweep")


def parser_of(command) -> argparse.ArgumentParser:
    return importlib.import_module(COMMANDS[command]).build_parser()


def options(parser) -> dict:
    """first flag -> action, for every optional argument but --help."""
    return {a.option_strings[0]: a for a in parser._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_concept_has_one_flag_name(command):
    flags = options(parser_of(command))
    for concept in EXPECTED[command]:
        flag, _, wrong = CONCEPTS[concept]
        assert flag in flags, f"{command} has no {flag} ({concept})"
    for concept, (flag, _, wrong) in CONCEPTS.items():
        misnamed = set(wrong) & set(flags)
        assert not misnamed, f"{command} names {concept} {misnamed}; the one name is {flag}"
    for action in flags.values():
        for alias in action.option_strings[1:]:
            if isinstance(action, argparse.BooleanOptionalAction) and alias == "--no-" + action.option_strings[0][2:]:
                continue  # --bucket / --no-bucket: one switch
            assert ALIASES.get(alias) == action.option_strings[0], f"{command}: unexpected second name {alias}"


@pytest.mark.parametrize("concept", [c for c, (_, default, _) in CONCEPTS.items() if default is not TASK])
def test_task_independent_concepts_have_one_default(concept):
    flag, default, _ = CONCEPTS[concept]
    for command in COMMANDS:
        action = options(parser_of(command)).get(flag)
        if action is not None:
            assert action.default == default, f"{command} {flag} defaults to {action.default!r}, not {default!r}"


@pytest.mark.parametrize("command", ["pretrain", "finetune", "ner", "qa"])
def test_task_defaults_say_where_they_come_from(command):
    flags = options(parser_of(command))
    for concept in ("learning rate", "epochs", "max length"):
        action = flags.get(CONCEPTS[concept][0])
        if action is not None:
            assert TASK_DEFAULT_SOURCE.search(action.help or ""), f"{command} {action.option_strings[0]}: " \
                                                                  f"the help does not say where its default comes from"


def test_the_table_can_fail():
    """A parser that calls the length --seq-len, or defaults the seed to 42, is caught."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--seed", type=int, default=42)
    flags = options(parser)
    assert set(CONCEPTS["max length"][2]) & set(flags)
    assert flags["--seed"].default != CONCEPTS["seed"][1]


@pytest.mark.parametrize("command", COMMANDS)
def test_one_help_formatter_and_the_typed_name(command, monkeypatch, capsys):
    module = importlib.import_module(COMMANDS[command])
    monkeypatch.setattr(sys, "argv", [str(ROOT / ".venv" / "bin" / "bert-edu"), command, "--help"])
    assert parser_of(command).formatter_class is common.HelpFormatter
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: bert-edu {command} ")
    old = {"finetune": "bert_edu/finetune.py", "ner": "bert_edu/ner.py", "qa": "bert_edu/qa.py",
           "pretrain": "bert_edu/pretrain.py", "predict": "bert_edu/predict.py"}[command]
    monkeypatch.setattr(sys, "argv", [str(ROOT / old)])
    assert parser_of(command).prog == f"python -m bert_edu.{command}"
    monkeypatch.setattr(sys, "argv", [str(ROOT / "bert_edu" / "__main__.py"), command])
    assert parser_of(command).prog == f"python -m bert_edu {command}"


@pytest.mark.parametrize("config_module, config_name, command", [
    ("bert_edu.train.pretrain", "PretrainConfig", "pretrain"), ("bert_edu.train.classify", "ClassifyConfig", "finetune"),
    ("bert_edu.train.ner", "NERConfig", "ner"), ("bert_edu.train.qa", "QAConfig", "qa"),
    ("bert_edu.train.predict", "PredictConfig", "predict")])
def test_every_config_field_is_a_flag_with_help(config_module, config_name, command):
    config = getattr(importlib.import_module(config_module), config_name)
    by_dest = {a.dest: a for a in options(parser_of(command)).values()}
    for field in dataclasses.fields(config):
        assert field.name in by_dest, f"{config_name}.{field.name} has no flag"
        assert field.metadata.get("help"), f"{config_name}.{field.name} has no help text (field metadata)"
        action = by_dest[field.name]
        if not isinstance(action, argparse._StoreFalseAction):
            assert action.default == field.default, f"{action.option_strings[0]}: flag and config disagree"


def test_generated_flags_parse_back_into_the_config():
    from bert_edu.train.pretrain import PretrainConfig, parse_args

    cfg, args = parse_args(["--seq-len", "32", "--max-grad-norm", "0.5", "--no-progress", "--warmup-ratio", "0.2",
                            "--max-steps", "50"])
    assert (cfg.seq_len, cfg.max_grad_norm, cfg.warmup_steps, args.no_progress) == (32, 0.5, 10, True)
    assert parse_args(["--max-length", "48"])[0].seq_len == 48
    assert parse_args([])[0] == PretrainConfig()  # the flags' defaults are the config's

    @dataclasses.dataclass
    class Extra(cli.FinetuneConfig):
        log_every: int = cli.option(10, "a field a later version adds")

    parser = cli.make_parser("finetune", "test", Extra)
    args = parser.parse_args(["--train", "a", "--eval", "b", "--out", "c", "--log-every", "3", "--bucket"])
    assert cli.config_from_args(Extra, args) == Extra(train="a", eval="b", out="c", log_every=3, bucket=True)


def test_one_json_schema():
    from bert_edu.train.pretrain import summary

    line = summary({"step": 5, "seconds": 1.234, "tokens_per_second": 10.4, "n_parameters": 7, "out": "x",
                    "history": [{"loss": 2.0}], "final": {"mlm_accuracy": 0.25, "mlm_loss": 3.0},
                    "baselines": {"mlm_accuracy": 0.1}})
    assert list(line)[:5] == ["metric", "value", "split", "seconds", "out"]
    assert (line["metric"], line["value"], line["split"], line["seconds"]) == ("mlm_accuracy", 0.25, "eval", 1.2)
    assert line["mlm_accuracy"] == 0.25 and line["baseline_mlm_accuracy"] == 0.1 and line["step"] == 5
    assert json.loads(json.dumps(cli.result_line("f1", 0.5, "test", 3, None, f1=0.5)))["out"] is None


def test_predict_takes_a_device(tmp_path, capsys):
    from bert_edu.train import predict

    args = predict.build_parser().parse_args(["--model", str(tmp_path), "--device", "cpu", "a text"])
    assert args.device == "cpu" and args.texts == ["a text"] and args.max_length is None


def test_the_installed_command_runs():
    """The one subprocess: the ``bert-edu`` entry point itself, as a user types it."""
    exe = shutil.which("bert-edu", path=str(Path(sys.executable).parent)) or shutil.which("bert-edu")
    assert exe, "the bert-edu command is not installed next to this Python (pip install -e .)"
    out = subprocess.run([exe, "finetune", "--help"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: bert-edu finetune ") and "--mixed-precision" in out.stdout
