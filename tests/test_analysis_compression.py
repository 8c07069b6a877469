"""head_mask (transformers' semantics), head importance and pruning, int8 quantization
(bert_edu.analysis.compression)."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402  (a hard dependency: never skipped)

from bert_edu.analysis import compression as C  # noqa: E402
from bert_edu.analysis.cost import model_bytes  # noqa: E402
from bert_edu.model import convert  # noqa: E402
from bert_edu.model.bert import BertModel  # noqa: E402
from bert_edu.model.config import BertConfig  # noqa: E402
from bert_edu.model.heads import BertForSequenceClassification  # noqa: E402

CONFIG = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
              max_position_embeddings=40, initializer_range=0.2)


def inputs():
    torch.manual_seed(1)
    ids = torch.randint(5, 99, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return ids, mask


def models_without(heads):
    """Ours, and transformers' BertModel with the same weights in which each (layer, head) in ``heads`` is
    removed the way pruning removes it: its columns of the output projection W_O are zero."""
    torch.manual_seed(0)
    ours = BertModel(BertConfig(**CONFIG)).eval()
    theirs = transformers.BertModel(transformers.BertConfig(**CONFIG, attn_implementation="eager")).eval()
    theirs.load_state_dict(convert.ours_to_hf(ours), strict=False)
    d = CONFIG["hidden_size"] // CONFIG["num_attention_heads"]
    with torch.no_grad():
        for layer, head in heads:
            theirs.encoder.layer[layer].attention.output.dense.weight[:, head * d:(head + 1) * d] = 0
    return ours, theirs


@pytest.mark.parametrize("output_attentions", [False, True])  # fused kernel and explicit formula
def test_head_mask_equals_removing_the_head_in_transformers(output_attentions):
    removed = [(0, 1), (1, 3), (1, 0)]
    ours, theirs = models_without(removed)
    ids, mask = inputs()
    head_mask = C.mask_without(removed, len(removed), 2, 4)
    with torch.no_grad():
        got = ours(ids, mask, head_mask=head_mask, output_attentions=output_attentions)
        expected = theirs(ids, attention_mask=mask)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, atol=1e-5, rtol=0)
    if output_attentions:  # as in transformers, the returned weights are multiplied by the gate
        assert got.attentions[0][:, 1].abs().max() == 0 and got.attentions[1][:, 3].abs().max() == 0
        assert got.attentions[0][:, 0].abs().max() > 0


def test_head_mask_of_ones_changes_nothing_and_one_row_applies_to_every_layer():
    ours, _ = models_without([])
    ids, mask = inputs()
    with torch.no_grad():
        plain = ours(ids, mask).last_hidden_state
        torch.testing.assert_close(ours(ids, mask, head_mask=torch.ones(2, 4)).last_hidden_state, plain,
                                   atol=0, rtol=0)
        row = torch.tensor([1.0, 0.0, 1.0, 1.0])
        torch.testing.assert_close(ours(ids, mask, head_mask=row).last_hidden_state,
                                   ours(ids, mask, head_mask=torch.stack([row, row])).last_hidden_state)


def test_a_head_mask_of_the_wrong_shape_is_refused():
    ours, _ = models_without([])
    ids, mask = inputs()
    with pytest.raises(ValueError, match=r"\(4,\) for every layer or \(2, 4\)"):
        ours(ids, mask, head_mask=torch.ones(3, 4))


def classifier(seed=0):
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(**CONFIG, num_labels=2)).eval()


def features(n=24, seed=2):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = 4 + i % 5
        ids = [1] + torch.randint(5, 99, (length,), generator=g).tolist() + [2]
        out.append({"input_ids": ids, "label": int(ids[1] > 50)})
    return out


def test_head_importance_is_the_gradient_of_the_loss_with_respect_to_the_gate():
    model = classifier().double()
    data = features(8)
    importance = C.head_importance(model, data, batch_size=8, normalise=False)
    # one batch: |d loss / d gate| at gate = 1, checked by a central finite difference on one gate
    batch = next(C._batches(data, 8, 0))
    for layer, head in [(0, 2), (1, 0)]:
        eps = 1e-5
        losses = []
        for sign in (1, -1):
            gate = torch.ones(2, 4, dtype=torch.float64)
            gate[layer, head] += sign * eps
            with torch.no_grad():  # the loss in float64 (the model's own loss is computed in float32)
                logits = model(batch["input_ids"], batch["attention_mask"], head_mask=gate).logits
                losses.append(torch.nn.functional.cross_entropy(logits, batch["labels"]).item())
        assert importance[layer, head].item() == pytest.approx(abs(losses[0] - losses[1]) / (2 * eps), rel=1e-4)
    normalised = C.head_importance(model, data, batch_size=8)
    torch.testing.assert_close(normalised.norm(dim=1), torch.ones(2, dtype=torch.float64))


def test_pruning_orders_and_curve():
    importance = torch.tensor([[0.3, 0.1], [0.2, 0.9]])
    assert C.least_important_first(importance) == [(0, 1), (1, 0), (0, 0), (1, 1)]
    order = C.random_order(2, 2, seed=0)
    assert sorted(order) == [(0, 0), (0, 1), (1, 0), (1, 1)] and order == C.random_order(2, 2, seed=0)
    assert C.mask_without(order, 2, 2, 2).sum() == 2
    model, data = classifier(), features()
    curve = C.pruning_curve(model, data, order, [0, 8])
    assert curve[0] == C.accuracy(model, data)
    with torch.no_grad():  # every head removed: the prediction no longer depends on attention
        assert 0 <= curve[1] <= 1


def test_single_head_loss_change_agrees_with_the_gradient_to_first_order():
    model = classifier(seed=3)
    data = features(16)
    heads = [(layer, head) for layer in range(2) for head in range(4)]
    exact = C.single_head_loss_change(model, data, heads, batch_size=16)
    assert exact.shape == (8,) and exact.abs().max() > 0
    assert C.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert C.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_int8_quantization_keeps_the_predictions_and_shrinks_the_model():
    model = classifier()
    quantized = C.quantize_int8(model)
    assert not any(type(m) is torch.nn.Linear for m in quantized.modules())  # every Linear replaced
    assert any(type(m) is torch.nn.Linear for m in model.modules())  # the original is untouched
    ids, mask = inputs()
    with torch.no_grad():
        a, b = model(ids, mask).logits, quantized(ids, mask).logits
    assert (a - b).abs().max() < 0.1 * a.abs().max()
    assert model_bytes(quantized) < model_bytes(model)
