"""BertForTokenClassification: transformers' names and outputs, parity within 1e-5, HF-layout round trips."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402  (a hard dependency: never skipped)

from bert_edu.model.config import BertConfig  # noqa: E402
from bert_edu.model.heads import BertForTokenClassification  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=40, id2label={0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"})


def close(a, b):
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 99, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0
    labels = torch.randint(0, 5, (3, 9), generator=g)
    labels[:, 0] = -100  # [CLS]
    labels[1, -3:] = -100  # padding
    labels[2, 3:5] = -100  # pieces after the first of a word
    return dict(input_ids=ids, attention_mask=mask), labels


def perturbed_pair(tmp_path):
    torch.manual_seed(0)
    ours = BertForTokenClassification(BertConfig(**TINY)).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.BertForTokenClassification.from_pretrained(tmp_path / "ours").eval()
    return ours, theirs


def test_names_and_outputs_follow_transformers(tmp_path):
    ours, theirs = perturbed_pair(tmp_path)
    assert ours.bert.pooler is None  # as transformers: no pooler in a token classifier
    assert sorted(k for k, _ in ours.named_parameters() if not k.startswith("bert.")) == \
        ["classifier.bias", "classifier.weight"]
    inputs, labels = batch()
    out = ours(**inputs, labels=labels)
    assert out.logits.shape == (3, 9, 5) and list(out.keys()) == ["loss", "logits"]
    assert out["logits"] is out.logits and out[0] is out.loss


def test_matches_transformers_logits_and_loss_ignoring_minus_100(tmp_path):
    ours, theirs = perturbed_pair(tmp_path)
    inputs, labels = batch()
    with torch.no_grad():
        a, b = ours(**inputs, labels=labels), theirs(**inputs, labels=labels)
        close(a.logits, b.logits)
        close(a.loss, b.loss)
        # -100 positions do not count: changing the logits there does not change the loss
        kept = labels != -100
        manual = torch.nn.functional.cross_entropy(a.logits[kept], labels[kept])
        close(a.loss, manual)


def test_round_trip_through_transformers(tmp_path):
    ours, theirs = perturbed_pair(tmp_path)
    inputs, _ = batch()
    theirs.save_pretrained(tmp_path / "theirs")
    again = BertForTokenClassification.from_pretrained(tmp_path / "theirs", verbose=False)
    assert again.config.id2label == TINY["id2label"]
    with torch.no_grad():
        close(again(**inputs).logits, theirs(**inputs).logits)
        close(again(**inputs).logits, ours(**inputs).logits)


def test_gradients_match_transformers(tmp_path):
    ours, theirs = perturbed_pair(tmp_path)
    inputs, labels = batch()
    ours(**inputs, labels=labels).loss.backward()
    theirs(**inputs, labels=labels).loss.backward()
    close(ours.classifier.weight.grad, theirs.classifier.weight.grad)
    close(ours.bert.embeddings.word_embeddings.weight.grad, theirs.bert.embeddings.word_embeddings.weight.grad)


def test_minilm_loads_with_a_fresh_classifier(capsys):
    from bert_edu.data import assets

    model = BertForTokenClassification.from_pretrained(assets.minilm_path(), num_labels=9)
    out = capsys.readouterr().out
    assert "classifier" in out
    assert model.classifier.weight.shape == (9, 384)
