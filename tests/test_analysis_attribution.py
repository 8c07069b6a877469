"""Token attributions (bert_edu.analysis.attribution): gradient x input against a hand-computed linear model,
completeness of integrated gradients, the attention lenses and the deletion test."""

from types import SimpleNamespace

import pytest
import torch

from bert_edu.analysis import attribution as A
from bert_edu.model.config import BertConfig
from bert_edu.model.heads import BertForSequenceClassification

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = (PAD, CLS, SEP, MASK)


class LinearBag(torch.nn.Module):
    """logits = sum over real tokens of W e_t + b: linear in the word embeddings, so every attribution
    has a closed form. Shaped like a BERT classifier where the attribution code looks."""

    def __init__(self, vocab=40, hidden=6, labels=2):
        super().__init__()
        torch.manual_seed(0)
        self.bert = torch.nn.Module()
        self.bert.embeddings = torch.nn.Module()
        self.bert.embeddings.word_embeddings = torch.nn.Embedding(vocab, hidden)
        self.out = torch.nn.Linear(hidden, labels)

    def forward(self, input_ids, attention_mask=None, **kwargs):
        e = self.bert.embeddings.word_embeddings(input_ids)
        keep = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        pooled = (e * keep[..., None]).sum(1)
        return SimpleNamespace(logits=self.out(pooled))


def tiny_bert(seed=0):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=24, initializer_range=0.3, num_labels=2)
    return BertForSequenceClassification(config).eval()


def batch():
    ids = torch.tensor([[CLS, 7, 12, 9, 30, SEP], [CLS, 15, 22, SEP, PAD, PAD]])
    return ids, (ids != PAD).long()


def test_gradient_x_input_equals_the_hand_computed_linear_model():
    model = LinearBag()
    ids, mask = batch()
    target = torch.tensor([1, 0])
    got = A.gradient_x_input(model, ids, mask, target, output="logit")
    E, W = model.bert.embeddings.word_embeddings.weight, model.out.weight
    # d logit_c / d e_t = W_c for a real token (0 for padding), so the score is e_t . W_c
    expected = torch.stack([E[ids[i]] @ W[target[i]] * mask[i] for i in range(2)]).detach()
    torch.testing.assert_close(got, expected)


def test_integrated_gradients_of_a_linear_model_is_the_difference_to_the_baseline():
    model = LinearBag()
    ids, mask = batch()
    baseline = A.masked_baseline(ids, mask, SPECIAL, MASK)
    target = torch.tensor([0, 1])
    scores, f_x, f_b = A.integrated_gradients(model, ids, mask, target, baseline, steps=3, output="logit")
    E, W = model.bert.embeddings.word_embeddings.weight, model.out.weight
    expected = torch.stack([(E[ids[i]] - E[baseline[i]]) @ W[target[i]] * mask[i] for i in range(2)]).detach()
    torch.testing.assert_close(scores, expected)
    torch.testing.assert_close(scores.sum(-1), f_x - f_b)  # completeness, exact for a linear F


@pytest.mark.parametrize("output", ["probability", "logit"])
def test_integrated_gradients_is_complete_on_a_bert(output):
    model = tiny_bert()
    ids, mask = batch()
    baseline = A.masked_baseline(ids, mask, SPECIAL, MASK)
    gaps = {}
    for steps in (4, 64):
        scores, f_x, f_b = A.integrated_gradients(model, ids, mask, None, baseline, steps=steps, output=output)
        gaps[steps] = (scores.sum(-1) - (f_x - f_b)).abs().max().item()
        assert scores[mask == 0].abs().max() == 0 and scores[:, 0].abs().max() == 0  # padding, [CLS]: no score
    change = (f_x - f_b).abs().min().item()
    assert change > 1e-3, "the test needs a model whose output moves between baseline and input"
    assert gaps[64] < 0.01 * change  # within 1% of F(x) - F(baseline)
    assert gaps[64] < gaps[4]  # and the Riemann sum converges


def test_default_target_is_the_predicted_class():
    model = tiny_bert()
    ids, mask = batch()
    target, p = A.predict(model, ids, mask)
    with torch.no_grad():
        probs = model(ids, attention_mask=mask).logits.softmax(-1)
    assert torch.equal(target, probs.argmax(-1)) and torch.allclose(p, probs.max(-1).values)
    torch.testing.assert_close(A.gradient_x_input(model, ids, mask), A.gradient_x_input(model, ids, mask, target))


def test_masked_baseline_keeps_special_tokens_and_padding():
    ids, mask = batch()
    baseline = A.masked_baseline(ids, mask, SPECIAL, MASK)
    assert baseline.tolist() == [[CLS, MASK, MASK, MASK, MASK, SEP], [CLS, MASK, MASK, SEP, PAD, PAD]]


def test_attention_lenses():
    model = tiny_bert()
    ids, mask = batch()
    with torch.no_grad():
        attentions = model(ids, attention_mask=mask, output_attentions=True).attentions
    torch.testing.assert_close(A.attention_scores(model, ids, mask), attentions[-1][:, :, 0].mean(1))
    rollout = A.attention_rollout(model, ids, mask)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2))  # a distribution over the tokens
    assert rollout[1, 4:].abs().max() < 1e-6  # nothing flows from padding
    # one layer, by hand: 0.5 A + 0.5 I, renormalised
    single = 0.5 * attentions[0].mean(1) + 0.5 * torch.eye(6)
    manual = (0.5 * attentions[1].mean(1) + 0.5 * torch.eye(6)) @ (single / single.sum(-1, keepdim=True))
    torch.testing.assert_close(rollout, (manual / manual.sum(-1, keepdim=True))[:, 0])


def test_top_k_mask_picks_only_candidates():
    scores = torch.tensor([[9.0, 1.0, 5.0, 3.0, 7.0, 8.0]])
    candidates = torch.tensor([[False, True, True, True, True, False]])
    assert A.top_k_mask(scores, candidates, 2).nonzero()[:, 1].tolist() == [2, 4]
    assert A.top_k_mask(scores, candidates, 10).equal(candidates)  # k larger than the sentence: all of them
    assert not A.top_k_mask(scores, candidates, 0).any()


def test_deletion_by_integrated_gradients_is_the_best_single_deletion_in_a_linear_model():
    # For a linear F, IG with the [MASK] baseline is exactly the change in the logit when a token becomes
    # [MASK]: its top token is the deletion that hurts most. Gradient x input does not know the baseline.
    model = LinearBag(vocab=40, hidden=4)
    ids = torch.tensor([[CLS, 5, 6, 7, 8, 9, 10, 11, SEP]])
    mask = torch.ones_like(ids)
    target, p = A.predict(model, ids, mask)
    baseline = A.masked_baseline(ids, mask, SPECIAL, MASK)
    scores, _, _ = A.integrated_gradients(model, ids, mask, target, baseline, steps=2, output="logit")
    drop_ig = A.deletion_drops(model, ids, mask, scores, [1], SPECIAL, MASK)[0, 0]
    singles = []
    for t in range(1, 8):
        one_hot = torch.zeros_like(scores)
        one_hot[0, t] = 1
        singles.append(A.deletion_drops(model, ids, mask, one_hot, [1], SPECIAL, MASK)[0, 0])
    assert torch.isclose(drop_ig, max(singles))
    assert A.deletion_drops(model, ids, mask, scores, [0], SPECIAL, MASK).abs().max() == 0  # k = 0: no change


def test_deletion_drops_never_touch_special_tokens():
    model = tiny_bert()
    ids, mask = batch()
    everything = A.deletion_drops(model, ids, mask, torch.ones(ids.shape), [100], SPECIAL, MASK)
    with torch.no_grad():
        target, p = A.predict(model, ids, mask)
        all_masked = A.masked_baseline(ids, mask, SPECIAL, MASK)
        p_masked = model(all_masked, attention_mask=mask).logits.softmax(-1).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(everything[:, 0], p - p_masked)


def test_a_model_without_word_embeddings_is_refused():
    with pytest.raises(TypeError, match="bert.embeddings.word_embeddings"):
        A.gradient_x_input(torch.nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long))


def test_deletion_test_returns_every_lens_per_sentence():
    from bert_edu.text.tokenizer import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(35)]
    tokenizer = BertTokenizer(vocab)
    model = tiny_bert()
    texts = ["w1 w2 w3 w4", "w5 w6", "w7 w8 w9 w10 w11 w12", "w13"]
    drops = A.deletion_test(model, tokenizer, texts, ks=(1, 2), steps=4, random_draws=2, batch_size=3)
    assert set(drops) == set(A.LENSES)
    assert all(d.shape == (4, 2) for d in drops.values())
    # a one-word sentence: every lens deletes the same (only) word, so every drop is the same
    last = torch.stack([d[3] for d in drops.values()])
    torch.testing.assert_close(last, last[:1].expand_as(last))
