"""BertForQuestionAnswering equals transformers' (logits and loss within 1e-5), round-trips the HF layout, and a
model saved by the course answers like transformers does; the QA command line and predict work end to end and
refuse bad input with one clear line.

transformers 5 removed ``pipeline("question-answering")``. Its two halves remain: the saved folder is loaded
with ``AutoModelForQuestionAnswering`` and ``AutoTokenizer`` (the fast tokenizer), and decoded the way the
pipeline of transformers 4 did (a softmax over the context tokens for the start and for the end, the most
probable span with start <= end and at most ``max_answer_len`` tokens, widened to whole words). Where the
pipeline still exists (transformers 4), it is used directly.
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import bert_edu  # noqa: E402
from bert_edu.data.assets import minilm_path  # noqa: E402
from bert_edu.data.squad import SquadExample, write_squad  # noqa: E402
from bert_edu.model.heads import BertForQuestionAnswering  # noqa: E402
from bert_edu.train.qa import build_qa_model, predict_answer, save_qa_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


TINY = dict(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            max_position_embeddings=64, type_vocab_size=2)


def tiny_config(**overrides):
    return transformers.BertConfig(**{**TINY, **overrides})


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, 101, (3, 13), generator=g)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 9:] = 0
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 6:] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def test_exported_with_transformers_names():
    assert bert_edu.BertForQuestionAnswering is BertForQuestionAnswering


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_parity_with_transformers(tmp_path, attn):
    torch.manual_seed(0)
    hf = transformers.BertForQuestionAnswering(tiny_config(attn_implementation=attn)).eval()
    hf.save_pretrained(tmp_path)
    ours = BertForQuestionAnswering.from_pretrained(tmp_path, verbose=False).eval()
    inputs = batch()
    # answers inside the sequence, at [CLS] (0), and past the end (clamped and ignored, as in transformers)
    positions = {"start_positions": torch.tensor([7, 0, 40]), "end_positions": torch.tensor([9, 0, 2])}
    with torch.no_grad():
        a, b = ours(**inputs, **positions), hf(**inputs, **positions)
    torch.testing.assert_close(a.start_logits, b.start_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.end_logits, b.end_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.loss, b.loss, atol=1e-5, rtol=0)
    assert a.start_logits.shape == (3, 13) and "loss" in a and a["start_logits"] is a.start_logits


def test_hf_layout_round_trip(tmp_path):
    torch.manual_seed(1)
    ours = BertForQuestionAnswering(bert_edu.BertConfig(**TINY)).eval()
    ours.save_pretrained(tmp_path / "ours")
    hf = transformers.AutoModelForQuestionAnswering.from_pretrained(tmp_path / "ours").eval()
    assert type(hf).__name__ == "BertForQuestionAnswering"
    inputs = batch(1)
    with torch.no_grad():
        torch.testing.assert_close(ours(**inputs).start_logits, hf(**inputs).start_logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours(**inputs).end_logits, hf(**inputs).end_logits, atol=1e-5, rtol=0)
    hf.save_pretrained(tmp_path / "back")
    again = BertForQuestionAnswering.from_pretrained(tmp_path / "back", verbose=False)
    for (name, p), (_, q) in zip(ours.state_dict().items(), again.state_dict().items()):
        assert torch.equal(p, q), name


def test_minilm_encoder_loads_with_a_fresh_head():
    model, tokenizer = build_qa_model("minilm")
    assert model.qa_outputs.weight.shape == (2, 384)
    assert model.bert.pooler is None and tokenizer.vocab_size == 30522
    with pytest.raises(ValueError, match="num_labels must be 2"):
        BertForQuestionAnswering(bert_edu.BertConfig(**TINY, num_labels=3))


# ------------------------------------------------------------------------------------ same answers as transformers

QUESTIONS = [
    ("Who wrote the novel Emma?", "Emma is a novel written by Jane Austen. It was first published in December 1815, "
     "and it is about the perils of misconstrued romance."),
    ("When was it published?", "Emma is a novel written by Jane Austen. It was first published in December 1815, "
     "and it is about the perils of misconstrued romance."),
    ("How tall is the tower?", "The Eiffel Tower, a wrought-iron lattice tower on the Champ de Mars in Paris, is "
     "330 metres (1,083 ft) tall, about the same height as an 81-storey building."),
    ("What did the reviewer dislike?", "I bought these headphones last month. The sound is great but the ear pads "
     "are uncomfortable after an hour, and the cable tangles constantly."),
]


def transformers_answer(folder, question, context, max_answer_len=30):
    """transformers 4's QuestionAnsweringPipeline, written out (one window; align_to_words=True)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    enc = tokenizer(question, context, truncation="only_second", max_length=384, return_offsets_mapping=True,
                    return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    token_type_ids=enc["token_type_ids"])
    context_tokens = np.array([s == 1 for s in enc.sequence_ids(0)])
    start = np.where(context_tokens, out.start_logits[0].numpy(), -10000.0)
    end = np.where(context_tokens, out.end_logits[0].numpy(), -10000.0)
    start, end = np.exp(start - start.max()), np.exp(end - end.max())
    start, end = start / start.sum(), end / end.sum()
    outer = np.tril(np.triu(np.outer(start, end)), max_answer_len - 1)
    i, j = np.unravel_index(np.argmax(outer), outer.shape)
    char_start = enc.word_to_chars(enc.token_to_word(i), sequence_index=1)[0]
    char_end = enc.word_to_chars(enc.token_to_word(j), sequence_index=1)[1]
    return {"answer": context[char_start:char_end], "start": char_start, "end": char_end,
            "score": float(outer[i, j])}


@pytest.fixture(scope="module")
def saved_minilm_qa(tmp_path_factory):
    """MiniLM with a random (seeded) QA head, saved by the course: its answers are arbitrary but fixed."""
    torch.manual_seed(0)
    model, tokenizer = build_qa_model("minilm")
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.5)
    return save_qa_model(model, tokenizer, tmp_path_factory.mktemp("qa") / "model"), model.eval(), tokenizer


@pytest.mark.parametrize("question, context", QUESTIONS)
def test_transformers_gives_the_same_answers(saved_minilm_qa, question, context):
    folder, model, tokenizer = saved_minilm_qa
    ours = predict_answer(model, tokenizer, question, context)
    theirs = transformers_answer(folder, question, context)
    assert (ours["answer"], ours["start"], ours["end"]) == (theirs["answer"], theirs["start"], theirs["end"])
    assert ours["score"] == pytest.approx(theirs["score"], rel=1e-4)
    assert context[ours["start"]:ours["end"]] == ours["answer"]
    if "question-answering" in transformers.pipelines.SUPPORTED_TASKS:  # transformers 4
        pipe = transformers.pipeline("question-answering", model=str(folder), max_answer_len=30)
        assert pipe(question=question, context=context)["answer"] == ours["answer"]


def test_long_context_is_read_in_windows(saved_minilm_qa):
    _, model, tokenizer = saved_minilm_qa
    context = " ".join(QUESTIONS[2][1] for _ in range(12))  # ~600 tokens: several windows
    answer = predict_answer(model, tokenizer, "How tall is the tower?", context, max_length=128, stride=32)
    assert context[answer["start"]:answer["end"]] == answer["answer"] and answer["answer"]


# ------------------------------------------------------------------------------------ the command lines


def run(module, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def tiny_qa_folder(tmp_path_factory):
    """A 2-layer, 32-wide QA model with MiniLM's vocabulary: the command line runs in seconds."""
    from bert_edu.train.common import load_tokenizer

    torch.manual_seed(0)
    config = bert_edu.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=512)
    return save_qa_model(BertForQuestionAnswering(config), load_tokenizer(minilm_path()),
                         tmp_path_factory.mktemp("tiny") / "qa")


@pytest.fixture(scope="module")
def squad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("squad")
    examples = []
    for k, (question, context) in enumerate(QUESTIONS * 3):
        answer = context.split(" ")[3 + k % 4]
        examples.append(SquadExample(f"q{k}", question, context, [answer], [context.index(answer)], "t"))
    return write_squad(examples[:9], folder / "train.json"), write_squad(examples[9:], folder / "dev.json")


def test_command_line_trains_saves_and_predicts(tiny_qa_folder, squad_files, tmp_path):
    train, dev = squad_files
    result = run("bert_edu.qa", "--train", train, "--eval", dev, "--test", dev, "--init", tiny_qa_folder,
                 "--out", tmp_path / "run", "--epochs", 2, "--batch-size", 4, "--no-progress",
                 "--mixed-precision", "no")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0 <= metrics["exact_match"] <= metrics["f1"] <= 1
    assert (metrics["n_train_questions"], metrics["n_test_questions"], metrics["split"]) == (9, 3, "test")
    assert (metrics["metric"], metrics["value"], metrics["out"]) == ("f1", metrics["f1"], str(tmp_path / "run"))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    question, context = QUESTIONS[0]
    answer = run("bert_edu.predict", "--model", tmp_path / "run", "--question", question, "--context", context,
                 "--json")
    assert answer.returncode == 0, answer.stderr
    row = json.loads(answer.stdout)
    assert context[row["start"]:row["end"]] == row["answer"]
    for bad in (["--question", question], ["--question", " ", "--context", context]):  # no context; empty question
        refused = run("bert_edu.predict", "--model", tmp_path / "run", *bad)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines()[-1].startswith(("error:", "python -m bert_edu.predict: error:"))


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("text,label\nhello,1\n", "not JSON"),
    ('{"version": "1.1"}', "no top-level 'data'"),
    ('{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "x", "question": "q?", "answers": '
     '[{"text": "zzz", "answer_start": 0}]}]}]}]}', "not in its context"),
    ('{"data": []}', "holds no question"),
])
def test_bad_files_are_refused_before_training(tmp_path, squad_files, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run("bert_edu.qa", "--train", bad, "--eval", squad_files[1], "--out", tmp_path / "never")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "never").exists()


def test_missing_file_and_bad_model_folder(tmp_path, squad_files):
    result = run("bert_edu.qa", "--train", tmp_path / "nope.json", "--eval", squad_files[1], "--out", tmp_path / "o")
    assert result.returncode == 2 and "no such file" in result.stderr
    result = run("bert_edu.predict", "--model", tmp_path, "--question", "q?", "--context", "c")
    assert result.returncode == 2 and result.stderr.startswith("error: ")


def test_a_saved_model_is_scored_on_every_shifted_set(tiny_qa_folder, tmp_path):
    """benchmarks/bench_ner_qa.py qa-shifts: one row per set, with the interval of its per-question scores."""
    script = os.path.join(ROOT, "benchmarks", "bench_ner_qa.py")
    result = subprocess.run([sys.executable, script, "qa-shifts", "--model", str(tiny_qa_folder),
                             "--splits", "news", "plots", "--questions", "6", "--device", "cpu"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout.strip().splitlines()[-1])["splits"]
    assert list(rows) == ["news", "plots"]
    for row in rows.values():
        assert row["questions"] == 6 and 0 <= row["exact_match"] <= row["f1"] <= 1 and row["f1_half_interval"] >= 0
