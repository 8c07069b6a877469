"""The MLM + NSP loss of our BertForPreTraining: equal to transformers', blind to padding and to
unselected positions, ln(V) and ln(2) at initialisation; and the loop's sliced loss."""

import math
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bert_edu.model.config import BertConfig  # noqa: E402
from bert_edu.model.heads import BertForPreTraining  # noqa: E402
from bert_edu.train.pretrain import pretraining_loss  # noqa: E402
from bert_edu.data.pretraining import IGNORE_INDEX, SpecialIds, mask_tokens  # noqa: E402

V = 500
IDS = SpecialIds(cls=2, sep=3, pad=0, mask=4, vocab_size=V, special=(0, 1, 2, 3, 4))


def tiny_config(**kw):
    return BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, **kw)


def make_batch(n=6, length=24, seed=0, pad_from=None):
    """[CLS] A [SEP] B [SEP] [PAD]...: rows have different lengths; masked with our mask_tokens."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, V, (n, length), generator=g)
    token_type_ids = torch.zeros(n, length, dtype=torch.long)
    attention_mask = torch.ones(n, length, dtype=torch.long)
    lengths = pad_from or [length - 2 * i for i in range(n)]
    for row, n_tok in enumerate(lengths):
        half = n_tok // 2
        input_ids[row, 0], input_ids[row, half], input_ids[row, n_tok - 1] = IDS.cls, IDS.sep, IDS.sep
        token_type_ids[row, half + 1:n_tok] = 1
        input_ids[row, n_tok:] = IDS.pad
        attention_mask[row, n_tok:] = 0
    masked, labels = mask_tokens(input_ids, IDS, g)
    nsp = torch.arange(n) % 2
    return dict(input_ids=masked, attention_mask=attention_mask, token_type_ids=token_type_ids,
                labels=labels, next_sentence_label=nsp)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    ours = BertForPreTraining(tiny_config()).eval()
    folder = tmp_path_factory.mktemp("tiny-pretraining")
    ours.save_pretrained(folder)
    import transformers

    theirs = transformers.BertForPreTraining.from_pretrained(folder).eval()
    return ours, theirs


def test_loss_equals_transformers(models):
    ours, theirs = models
    batch = make_batch()
    with torch.no_grad():
        a, b = ours(**batch), theirs(**batch)
    torch.testing.assert_close(a.loss, b.loss, atol=1e-5, rtol=0)
    # ours computed vocabulary logits only at the selected positions, in labels[labels != -100] order
    selected = batch["labels"] != IGNORE_INDEX
    assert a.prediction_logits.shape == (selected.sum().item(), V)
    torch.testing.assert_close(a.prediction_logits, b.prediction_logits[selected], atol=1e-5, rtol=0)
    torch.testing.assert_close(a.seq_relationship_logits, b.seq_relationship_logits, atol=1e-5, rtol=0)
    # without labels: the full (batch, T, V) logits, as transformers
    with torch.no_grad():
        full = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).prediction_logits
    torch.testing.assert_close(full, b.prediction_logits, atol=1e-5, rtol=0)


def test_padding_does_not_change_the_loss(models):
    ours, theirs = models
    batch = make_batch(length=24)
    extra = 9  # the same sequences with 9 more [PAD] columns
    padded = {k: v for k, v in batch.items()}
    fill = {"input_ids": IDS.pad, "attention_mask": 0, "token_type_ids": 0, "labels": IGNORE_INDEX}
    for key, value in fill.items():
        padded[key] = torch.cat([batch[key], torch.full((len(batch[key]), extra), value)], dim=1)
    with torch.no_grad():
        for model in (ours, theirs):
            torch.testing.assert_close(model(**padded).loss, model(**batch).loss, atol=1e-5, rtol=0)


def test_padding_tokens_content_is_invisible(models):
    ours, _ = models
    batch = make_batch()
    other = dict(batch)
    other["input_ids"] = torch.where(batch["attention_mask"] == 1, batch["input_ids"],
                                     torch.randint(5, V, batch["input_ids"].shape))
    with torch.no_grad():
        torch.testing.assert_close(ours(**other).loss, ours(**batch).loss, atol=1e-5, rtol=0)


def test_unselected_positions_do_not_change_the_loss(models):
    ours, _ = models
    batch = make_batch()
    with torch.no_grad():
        logits = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).prediction_logits
        out = ours(**batch)
    selected = batch["labels"] != IGNORE_INDEX
    # the loss is the mean over the selected positions only: recompute it from the full logits
    mlm = torch.nn.functional.cross_entropy(logits[selected], batch["labels"][selected])
    nsp = torch.nn.functional.cross_entropy(out.seq_relationship_logits, batch["next_sentence_label"])
    torch.testing.assert_close(out.loss, mlm + nsp, atol=1e-5, rtol=0)
    # and selecting one more position changes it (the test could fail)
    more = batch["labels"].clone()
    row, col = (~selected & (batch["attention_mask"] == 1)).nonzero()[0].tolist()
    more[row, col] = batch["input_ids"][row, col]
    with torch.no_grad():
        assert not torch.allclose(ours(**{**batch, "labels": more}).loss, out.loss)


def test_loss_at_initialisation_is_ln_vocab_and_ln_2():
    torch.manual_seed(1)
    config = BertConfig(vocab_size=4000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=64)
    model = BertForPreTraining(config).eval()
    ids = SpecialIds(cls=2, sep=3, pad=0, mask=4, vocab_size=4000, special=(0, 1, 2, 3, 4))
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 4000, (32, 48), generator=g)
    input_ids[:, 0], input_ids[:, 20], input_ids[:, -1] = 2, 3, 3
    masked, labels = mask_tokens(input_ids, ids, g)
    nsp = torch.arange(32) % 2
    with torch.no_grad():
        out = model(masked, torch.ones_like(masked), (torch.arange(48) > 20).long().expand(32, 48),
                    labels=labels, next_sentence_label=nsp)
    # a model that knows nothing spreads its bets evenly: -ln(1/V) and -ln(1/2)
    assert abs(out.mlm_loss.item() - math.log(4000)) < 0.1, out.mlm_loss.item()
    assert abs(out.nsp_loss.item() - math.log(2)) < 0.05, out.nsp_loss.item()


def test_sliced_loss_sums_to_the_global_mean(models):
    """The training loop's loss: each slice (process or micro-batch) divides its sums by the global
    counts, so the slices add up to exactly the loss of the whole batch."""
    ours, _ = models
    batch = make_batch(n=8, pad_from=[24, 24, 10, 24, 12, 24, 24, 8])
    n_pred = int((batch["labels"] != IGNORE_INDEX).sum())
    with torch.no_grad():
        whole = ours(**batch)
        mlm, nsp = pretraining_loss(whole, batch, n_pred, 8)
        torch.testing.assert_close(mlm + nsp, whole.loss, atol=1e-5, rtol=0)
        total = 0.0
        for half in (slice(0, 4), slice(4, 8)):
            part = {k: v[half] for k, v in batch.items()}
            m, n = pretraining_loss(ours(**part), part, n_pred, 8)
            total = total + m + n
            # a mean per slice would differ: the halves have different numbers of masked tokens
    torch.testing.assert_close(total, whole.loss, atol=1e-5, rtol=0)


def test_loop_loss_works_with_transformers_logits(models):
    _, theirs = models
    batch = make_batch()
    n_pred = int((batch["labels"] != IGNORE_INDEX).sum())
    with torch.no_grad():
        out = theirs(**batch)
        mlm, nsp = pretraining_loss(out, batch, n_pred, len(batch["labels"]))
    torch.testing.assert_close(mlm + nsp, out.loss, atol=1e-5, rtol=0)
