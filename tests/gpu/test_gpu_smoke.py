"""The GPU smoke suite (issue 28): about 2 minutes on one CUDA GPU; skipped without one (tests/gpu/conftest.py).

* 50 bf16 pretraining steps through the real command (``python -m bert_edu.pretrain``);
* stop and resume on CUDA: the CUDA random state is restored, so dropout draws the same masks;
* no host sync between log steps (``torch.cuda.set_sync_debug_mode("error")``);
* an fp16 step through the grad scaler;
* an NER and a QA evaluation in each precision (the forward really runs in it);
* notebook 07's learner-written loop (its ``#| export`` cells) and notebook 08's fine-tuning loop (the package's
  reference, which the notebook's exercise is checked against) on CUDA.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bert_edu.data.corpus import corpus_path, read_corpus, write_corpus
from bert_edu.text.wordpiece import train_tokenizer
from bert_edu.train import pretrain
from bert_edu.train.pretrain import PretrainConfig, setup, train_step

pytestmark = pytest.mark.gpu  # also added, with the skip without CUDA, by tests/gpu/conftest.py
REPO = Path(__file__).resolve().parents[2]
PRECISIONS = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu-smoke")
    docs = read_corpus(corpus_path())[:400]
    corpus = write_corpus(docs, folder / "corpus.txt")
    train_tokenizer([s for d in docs for s in d], vocab_size=1000).save_pretrained(folder / "vocab")
    return folder, corpus, folder / "vocab"


def config(small, name, **kw):
    folder, corpus, vocab = small
    base = dict(corpus=str(corpus), vocab=str(vocab), out=str(folder / name), size="tiny", seq_len=64,
                batch_size=32, max_steps=12, lr=1e-3, eval_every=0, eval_sequences=64, device="cuda",
                dropout=0.1, mixed_precision="bf16" if torch.cuda.is_bf16_supported() else "fp16")
    base.update(kw)
    return PretrainConfig(**base)


def test_50_bf16_steps_through_the_command(small):
    folder, corpus, vocab = small
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    out = folder / "command"
    proc = subprocess.run([sys.executable, "-m", "bert_edu.pretrain", "--corpus", str(corpus), "--vocab", str(vocab),
                           "--size", "tiny", "--seq-len", "128", "--batch-size", "64", "--max-steps", "50",
                           "--eval-every", "25", "--device", "cuda", "--mixed-precision", "bf16", "--no-progress",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=240,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["step"] == 50
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [h["loss"] for h in metrics["history"]]
    assert len(losses) == 50 and all(x is not None and x == x for x in losses)
    assert sum(losses[-5:]) < sum(losses[:5]), "50 steps must lower the loss"
    assert metrics["device"].startswith("cuda") and metrics["final"]["mlm_accuracy"] > 0


def test_stop_and_resume_is_exact_on_cuda(small):
    """Dropout on: a resume without the CUDA random state would draw other masks and other losses."""
    whole = pretrain.run(config(small, "whole"), progress=False)
    pretrain.run(config(small, "cut"), stop_at=6, progress=False)
    state = torch.load(Path(small[0]) / "cut" / pretrain.STATE_FILE, map_location="cpu", weights_only=False)
    assert "cuda" in state["rng"][0], "the CUDA random state is saved"
    resumed = pretrain.run(config(small, "cut"), resume=True, progress=False)
    a = torch.tensor([h["loss"] for h in whole["history"]])
    b = torch.tensor([h["loss"] for h in resumed["history"]])
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    # the comparison can fail: another CUDA seed after the cut gives other dropout masks
    run = setup(config(small, "cut"))
    pretrain.resume_run(run)
    torch.cuda.manual_seed(12345)
    other = [train_step(run) for _ in range(6)]
    pretrain.flush(run)
    assert any(abs(o["loss"] - w) > 1e-5 for o, w in zip(other, a[6:].tolist()))


def test_no_host_sync_between_log_steps_on_cuda(small):
    """32 x 64 = 2,048 tokens per step: below 3,072 ids torch's CUDA embedding backward needs no host sync (above,
    it sorts the ids and reads how many are unique: see the next test)."""
    run = setup(config(small, "sync", log_every=5, max_steps=20))
    for _ in range(5):  # warm up (first batch, allocator, cuBLAS handles) and end on a log step
        train_step(run)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(4):  # steps 6-9: no log step, so no sync allowed
            train_step(run)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    train_step(run)  # step 10 reads the losses
    assert all(h["loss"] is not None for h in run.history)
    run.loader.close()


def test_host_syncs_per_step_at_the_gpu_recipe_size(small, capsys):
    """256 x 128 tokens (the GPU recipe): count the syncing CUDA calls per step between log steps ("warn" mode).
    Ours add none; torch's embedding backward reads one count per embedding table above 3,072 ids (3 tables)."""
    import warnings

    run = setup(config(small, "sync-big", log_every=1000, max_steps=1000, batch_size=256, seq_len=128))
    for _ in range(2):
        train_step(run)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                train_step(run)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    with capsys.disabled():
        print(f"\n[gpu smoke] host syncs per step at 256 x 128: {len(syncs) / 3:.1f}")
    assert len(syncs) / 3 <= 3, [str(w.message)[:200] for w in syncs[:5]]
    run.loader.close()


def test_an_fp16_step_goes_through_the_grad_scaler(small):
    run = setup(config(small, "fp16", mixed_precision="fp16", max_steps=3))
    assert run.scaler.is_enabled()
    before = run.model.cls.predictions.transform.dense.weight.detach().clone()
    rows = [train_step(run) for _ in range(3)]
    assert all(r["loss"] == r["loss"] and r["grad_norm"] is not None for r in rows)
    assert run.scaler.get_scale() > 0
    assert not torch.equal(before, run.model.cls.predictions.transform.dense.weight)


def _dtype_of(module):
    seen = []
    module.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


@pytest.mark.parametrize("precision", list(PRECISIONS))
def test_ner_and_qa_evaluate_in_each_precision(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    from bert_edu.data.assets import minilm_path
    from bert_edu.data.conll import Sentence, encode_sentences
    from bert_edu.data.squad import SquadExample, tokenize_windows
    from bert_edu.model.config import BertConfig
    from bert_edu.model.heads import BertForQuestionAnswering, BertForTokenClassification
    from bert_edu.text.tokenizer import BertTokenizer
    from bert_edu.train.ner import evaluate_tagger
    from bert_edu.train.qa import evaluate_qa

    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    small = dict(vocab_size=len(tokenizer.vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128)
    labels = ["O", "B-PER", "I-PER"]
    sentences = [Sentence(["Ada", "Lovelace", "wrote", "code"], ["B-PER", "I-PER", "O", "O"]),
                 Sentence(["hello", "world"], ["O", "O"])]
    tagger = BertForTokenClassification(BertConfig(**small, num_labels=3, id2label=dict(enumerate(labels)),
                                                   label2id={n: i for i, n in enumerate(labels)})).cuda()
    seen = _dtype_of(tagger.classifier)
    scores = evaluate_tagger(tagger, sentences, encode_sentences(tokenizer, sentences, tagger.config.label2id),
                             device="cuda", mixed_precision=precision)
    assert 0 <= scores["f1"] <= 1 and seen and set(seen) == {PRECISIONS[precision]}

    context = "Ada Lovelace wrote the first program in 1843."
    examples = [SquadExample("q0", "Who wrote the first program?", context, ["Ada Lovelace"], [0])]
    reader = BertForQuestionAnswering(BertConfig(**small, num_labels=2)).cuda()
    seen = _dtype_of(reader.qa_outputs)
    scores = evaluate_qa(reader, examples, tokenize_windows(tokenizer, examples), device="cuda",
                         mixed_precision=precision)
    assert 0 <= scores["f1"] <= 1 and seen and set(seen) == {PRECISIONS[precision]}


def test_notebook_07_loop_trains_on_cuda(small):
    """Notebook 07's learner-written cells (its #| export cells) run on CUDA and take the package's steps."""
    from bert_edu.course.learner import export_cells
    from bert_edu.model.config import BertConfig

    namespace = {}
    for index, source in export_cells(REPO / "notebooks" / "07_pretraining.ipynb"):
        exec(compile(source, f"<07 cell {index}>", "exec"), namespace)
    cfg = config(small, "nb07", dropout=0.0, max_steps=6, prefetch=0, log_every=1, eval_every=3)
    run = setup(cfg)
    model = namespace["MyBertForPreTraining"](BertConfig(**run.model_config)).cuda()
    model.load_state_dict(run.model.state_dict(), strict=False)
    history, _, _ = namespace["pretrain"](model, run.data, run.held, cfg, "cuda", log=None)
    package = [train_step(run) for _ in range(cfg.max_steps)]
    for mine, theirs in zip(history, package, strict=True):  # bf16 autocast: equal to bf16 rounding
        assert mine["mlm_loss"] == pytest.approx(theirs["mlm_loss"], rel=2e-2)
    assert history[-1]["mlm_loss"] < history[0]["mlm_loss"]


def test_notebook_08_fine_tuning_loop_on_cuda():
    """Notebook 08's fine-tuning loop (the package's train_classifier, the exercise's reference) on CUDA."""
    from bert_edu.data.assets import minilm_path
    from bert_edu.data.classification import Example
    from bert_edu.train import classify

    model, tokenizer = classify.scratch_classifier(minilm_path(), ["neg", "pos"], size="tiny")
    texts = [("a dull and lifeless film", 0), ("a warm , funny , wonderful film", 1)] * 16
    features = classify.encode(tokenizer, [Example(t, y) for t, y in texts])
    classify.train_classifier(model, features, features, epochs=3, lr=1e-3, batch_size=8, device="cuda",
                              pad_token_id=tokenizer.pad_token_id, progress=False, log=None)
    scores = classify.evaluate(model, features, device="cuda", pad_token_id=tokenizer.pad_token_id)
    assert next(model.parameters()).device.type == "cuda" and scores["accuracy"] >= 0.5
