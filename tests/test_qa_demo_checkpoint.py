"""Notebook 11's demo QA model (benchmarks/qa_demo_checkpoint.py): the committed int8 file is the one its JSON
describes, small enough, licensed, better than the word-overlap baseline beyond the noise, and it answers the
Eiffel Tower questions correctly when asked again here."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "qa_demo_checkpoint.py"
RESULTS = ROOT / "benchmarks" / "results" / "qa_demo.json"
FOLDER = ROOT / "benchmarks" / "results" / "checkpoints" / "qa-minilm-int8"
MAX_BYTES = 25 * 1024 * 1024  # issue 26: int8 or fp16, at most 25 MB


def script():
    spec = importlib.util.spec_from_file_location("qa_demo_checkpoint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_file_is_the_one_the_json_describes_small_and_licensed():
    from bert_edu.model import int8

    data = json.loads(RESULTS.read_text())
    path = FOLDER / int8.INT8_WEIGHTS_NAME
    assert path.stat().st_size <= MAX_BYTES
    assert int8.sha256_file(path) == data["checkpoint"]["sha256"]
    assert data["checkpoint"]["bytes"] == path.stat().st_size
    assert "Apache License" in (FOLDER / "MiniLM-LICENSE").read_text()
    assert (FOLDER / "MiniLM-README.md").is_file() and (FOLDER / "vocab.txt").is_file()
    assert data["commands"] == [script().TRAIN_COMMAND, script().PACK_COMMAND]


def test_the_json_says_it_beats_the_baseline_beyond_the_noise_where_it_is_tested():
    data = json.loads(RESULTS.read_text())
    for name in ("wh-questions, Reuters news (held-out articles)", "cloze, Wikipedia (notebook 11's held-out articles)"):
        m = data["metrics"][name]
        assert m["f1_minus_baseline"] > m["half_interval"] > 0, name
        assert abs(m["f1"] - m["baseline_f1"] - m["f1_minus_baseline"]) < 1e-9
        assert m["beyond_noise"] is True
    assert all(v["correct"] for v in data["eiffel"].values()) and data["eiffel_all_correct"] is True


def test_the_eiffel_questions_are_answered_correctly_by_the_committed_model(tmp_path):
    from bert_edu.model import int8
    from bert_edu.train import qa

    module = script()
    data = json.loads(RESULTS.read_text())
    int8.dequantize_folder(FOLDER, tmp_path / "model", expected_sha256=data["checkpoint"]["sha256"])
    model, tokenizer = qa.load_qa_model(tmp_path / "model")
    answers = {q: qa.predict_answer(model, tokenizer, q, module.EIFFEL_CONTEXT)["answer"]
               for q in module.EIFFEL_QUESTIONS}
    assert module.eiffel_all_correct(answers), answers
    assert answers == {q: v["answer"] for q, v in data["eiffel"].items()}


def test_what_counts_as_a_right_eiffel_answer():
    module = script()
    assert module.eiffel_correct("Who is the tower named after?", "the engineer Gustave Eiffel")
    assert module.eiffel_correct("Who is the tower named after?", "Eiffel")  # his surname
    assert not module.eiffel_correct("Who is the tower named after?", "The Eiffel Tower")
    live = {q: "Eiffel" for q in module.EIFFEL_QUESTIONS}  # the live cloze model's one span for all three
    assert not module.eiffel_all_correct(live)
    assert module.eiffel_all_correct(dict(zip(module.EIFFEL_QUESTIONS, ["Eiffel", "1887", "Paris"])))
    assert module.eiffel_correct("When was the tower built?", "1887 to 1889")
    assert not module.eiffel_correct("When was the tower built?", "Eiffel")
    assert not module.eiffel_correct("Where is the Eiffel Tower?", module.EIFFEL_CONTEXT)  # the whole context
    with pytest.raises(KeyError):
        module.eiffel_correct("Why?", "Paris")


def test_training_never_sees_the_test_articles():
    """No Wikipedia article of notebook 11's held-out test, and no CoNLL test article, is trained on."""
    module = script()
    examples, counts = module.training_questions()
    _, _, held_out = module.wiki_split()
    assert sum(counts.values()) == len(examples) and counts["cloze_wiki"] == module.CLOZE_QUESTIONS
    assert not {ex.title for ex in examples} & held_out
    eval_questions, test_questions = module.news_test_questions()
    assert all(ex.title.startswith("test-") for ex in eval_questions + test_questions)
    assert not any(ex.title.startswith("test-") for ex in examples)
    assert not {ex.id for ex in eval_questions} & {ex.id for ex in test_questions}


def test_readme_row_matches_the_json():
    from test_results_in_readme import readme_row

    data = json.loads(RESULTS.read_text())
    row = readme_row("notebook 11's demo QA model (`benchmarks/results/qa_demo.json`")
    for name, m in data["metrics"].items():
        want = (f"F1 {100 * m['f1']:.1f} vs {100 * m['baseline_f1']:.1f} for the baseline, "
                f"+{100 * m['f1_minus_baseline']:.1f} ± {100 * m['half_interval']:.1f} paired")
        assert want in row, (name, want)
    for question, v in data["eiffel"].items():
        assert f"{question} {v['answer']!r}" in row
    assert f"{data['checkpoint']['bytes'] / 1e6:.1f} MB" in row
