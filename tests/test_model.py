"""Our BERT equals transformers' BERT: same weights in, same numbers out (float32, max abs diff <= 1e-5).

Tiny random configs keep this fast; the real all-MiniLM-L6-v2 weights are checked once at the end.
"""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402  a hard dependency: a missing one must fail, not skip ~35 tests

from bert_edu.model import convert
from bert_edu.model.attention import BertSelfAttention  # noqa: E402
from bert_edu.model.config import BertConfig  # noqa: E402
from bert_edu.model.bert import BertModel  # noqa: E402
from bert_edu.model.heads import BertForMaskedLM, BertForPreTraining, BertForSequenceClassification  # noqa: E402

ATOL = 1e-5
CONFIGS = {
    "h32-4heads-2layers": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=40),
    "h24-3heads-3layers-3types": dict(vocab_size=57, hidden_size=24, num_hidden_layers=3, num_attention_heads=3,
                                      intermediate_size=40, max_position_embeddings=32, type_vocab_size=3,
                                      layer_norm_eps=1e-7, pad_token_id=1),
    "h16-1head-1layer": dict(vocab_size=31, hidden_size=16, num_hidden_layers=1, num_attention_heads=1,
                             intermediate_size=16, max_position_embeddings=20),
}

HF_CLASS = {
    BertModel: "BertModel",
    BertForPreTraining: "BertForPreTraining",
    BertForMaskedLM: "BertForMaskedLM",
    BertForSequenceClassification: "BertForSequenceClassification",
}


def close(ours, theirs):
    torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)


def make_pair(our_cls, config_kwargs, attn="eager", seed=0, **extra):
    """Our model with random weights (non-trivial LayerNorms/biases too) and transformers' with the same."""
    torch.manual_seed(seed)
    # weights of std 0.2 (not BERT's 0.02) make activations O(1), so GELU's form, the softmax scale, etc. matter
    config = BertConfig(**{"initializer_range": 0.2, **config_kwargs, **extra})
    ours = our_cls(config).eval()
    with torch.no_grad():  # make biases and LayerNorm parameters non-trivial so a mix-up would show
        for name, p in ours.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    hf_config = transformers.BertConfig(**{k: v for k, v in config.to_dict().items() if k != "extra"},
                                        attn_implementation=attn)
    theirs = getattr(transformers, HF_CLASS[our_cls])(hf_config).eval()
    result = theirs.load_state_dict(convert.ours_to_hf(ours), strict=False)
    assert set(result.missing_keys) <= set(convert.TIED), result.missing_keys
    assert not result.unexpected_keys, result.unexpected_keys
    return ours, theirs


def make_batch(config_kwargs, batch=3, seq_len=11, seed=1, pairs=True, padding=True):
    g = torch.Generator().manual_seed(seed)
    vocab, types = config_kwargs["vocab_size"], config_kwargs.get("type_vocab_size", 2)
    input_ids = torch.randint(0, vocab, (batch, seq_len), generator=g)
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    token_type_ids = torch.zeros(batch, seq_len, dtype=torch.long)
    for b in range(batch):
        length = seq_len - (2 * b if padding else 0)
        mask[b, length:] = 0
        input_ids[b, length:] = config_kwargs.get("pad_token_id", 0)
        if pairs:  # second segment starts halfway; the 3-type config also uses id 2
            token_type_ids[b, length // 2:length] = 1 + (b % (types - 1))
    return dict(input_ids=input_ids, attention_mask=mask, token_type_ids=token_type_ids)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("pairs,padding", [(True, True), (False, False), (True, False)])
def test_bert_model_matches_transformers(name, pairs, padding):
    ours, theirs = make_pair(BertModel, CONFIGS[name])
    batch = make_batch(CONFIGS[name], pairs=pairs, padding=padding)
    with torch.no_grad():
        a = ours(**batch, output_attentions=True, output_hidden_states=True)
        b = theirs(**batch, output_attentions=True, output_hidden_states=True)
    close(a.last_hidden_state, b.last_hidden_state)
    close(a.pooler_output, b.pooler_output)
    assert len(a.hidden_states) == len(b.hidden_states) == CONFIGS[name]["num_hidden_layers"] + 1
    for x, y in zip(a.hidden_states, b.hidden_states):
        close(x, y)
    assert len(a.attentions) == CONFIGS[name]["num_hidden_layers"]
    for x, y in zip(a.attentions, b.attentions):
        assert x.shape == (3, CONFIGS[name]["num_attention_heads"], 11, 11)
        close(x, y)


def test_fast_path_matches_transformers_sdpa_and_omitted_arguments():
    ours, theirs = make_pair(BertModel, CONFIGS["h32-4heads-2layers"], attn="sdpa")
    batch = make_batch(CONFIGS["h32-4heads-2layers"])
    with torch.no_grad():
        close(ours(**batch).last_hidden_state, theirs(**batch).last_hidden_state)
        # no mask / no segments given: all tokens attended, all in segment A
        ids = batch["input_ids"]
        close(ours(ids).pooler_output, theirs(ids).pooler_output)


def test_fast_path_equals_explicit_path():
    """F.scaled_dot_product_attention (fast) and softmax(QK^T/sqrt(d) + mask)V (explicit) agree."""
    ours, _ = make_pair(BertModel, CONFIGS["h24-3heads-3layers-3types"])
    batch = make_batch(CONFIGS["h24-3heads-3layers-3types"], batch=4, seq_len=13)
    with torch.no_grad():
        fast = ours(**batch)
        explicit = ours(**batch, output_attentions=True)
    assert fast.attentions is None and len(explicit.attentions) == 3
    close(fast.last_hidden_state, explicit.last_hidden_state)
    close(fast.pooler_output, explicit.pooler_output)
    # padded keys get zero weight; every row of weights sums to one
    w = explicit.attentions[0]
    mask = batch["attention_mask"]
    assert torch.all(w.masked_select(mask[:, None, None, :] == 0) == 0)
    close(w.sum(-1), torch.ones_like(w.sum(-1)))


def test_attention_module_paths_agree_with_dropout_off_and_differ_with_it_on():
    config = BertConfig(**CONFIGS["h32-4heads-2layers"], attention_probs_dropout_prob=0.5)
    attn = BertSelfAttention(config)
    x = torch.randn(2, 7, 32)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3]).bool()[:, None, None, :]
    attn.eval()
    close(attn(x, mask)[0], attn(x, mask, output_attentions=True)[0])
    attn.train()  # dropout on the attention probabilities is active in training
    torch.manual_seed(0)
    assert not torch.allclose(attn(x, mask, output_attentions=True)[0], attn.eval()(x, mask)[0])


@pytest.mark.parametrize("name", ["h32-4heads-2layers", "h24-3heads-3layers-3types"])
def test_pretraining_heads_and_loss_match_transformers(name):
    ours, theirs = make_pair(BertForPreTraining, CONFIGS[name])
    cfg = CONFIGS[name]
    batch = make_batch(cfg, batch=4, seq_len=12)
    g = torch.Generator().manual_seed(5)
    labels = torch.full_like(batch["input_ids"], -100)
    select = (torch.rand(labels.shape, generator=g) < 0.3) & (batch["attention_mask"] == 1)
    select[0, 1] = True
    labels[select] = torch.randint(0, cfg["vocab_size"], (int(select.sum()),), generator=g)
    nsp = torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        a = ours(**batch)  # no labels: full logits, as transformers
        b = theirs(**batch)
        close(a.prediction_logits, b.prediction_logits)
        close(a.seq_relationship_logits, b.seq_relationship_logits)
        assert a.loss is None
        a = ours(**batch, labels=labels, next_sentence_label=nsp)
        b = theirs(**batch, labels=labels, next_sentence_label=nsp)
    close(a.loss, b.loss)
    # with labels our logits are those of the selected positions, in labels[labels != -100] order
    assert a.prediction_logits.shape == (int(select.sum()), cfg["vocab_size"])
    close(a.prediction_logits, b.prediction_logits[select])
    close(a.mlm_loss + a.nsp_loss, a.loss)
    close(a.nsp_loss, torch.nn.functional.cross_entropy(b.seq_relationship_logits, nsp))


def test_pretraining_loss_ignores_padding_and_unselected_positions():
    ours, _ = make_pair(BertForPreTraining, CONFIGS["h32-4heads-2layers"])
    batch = make_batch(CONFIGS["h32-4heads-2layers"], batch=2, seq_len=10, padding=False)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 3], labels[1, 5] = 7, 9
    nsp = torch.tensor([1, 0])
    with torch.no_grad():
        base = ours(**batch, labels=labels, next_sentence_label=nsp).loss
        # extra padding at the end (masked out) must not change anything
        padded = {k: torch.cat([v, torch.zeros(2, 4, dtype=v.dtype)], 1) for k, v in batch.items()}
        padded_labels = torch.cat([labels, torch.full((2, 4), -100)], 1)
        close(ours(**padded, labels=padded_labels, next_sentence_label=nsp).loss, base)
        # the unselected positions' labels are ignored whatever token sits there
        other = dict(batch, input_ids=batch["input_ids"].clone())
        other["input_ids"][0, 3] = 2  # the selected position's *input* may change (it is [MASK] in practice)
        assert not torch.allclose(ours(**other, labels=labels, next_sentence_label=nsp).loss, base)


def test_pretraining_single_labels_and_tied_decoder():
    ours, theirs = make_pair(BertForPreTraining, CONFIGS["h16-1head-1layer"])
    assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight
    batch = make_batch(CONFIGS["h16-1head-1layer"], batch=2, seq_len=6)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 1] = 3
    with torch.no_grad():
        a = ours(**batch, labels=labels)
        b = theirs(**batch, labels=labels)
        assert a.loss is None and b.loss is None  # as transformers: the total needs both labels
        close(a.mlm_loss, torch.nn.functional.cross_entropy(b.prediction_logits[:, 1], labels[:, 1]))
        a = ours(**batch, next_sentence_label=torch.tensor([1, 1]))
        assert a.loss is None and a.nsp_loss is not None and a.prediction_logits.shape == (2, 6, 31)
    # initial losses: MLM ~ ln(vocab), NSP ~ ln 2 (nothing learned yet)
    torch.manual_seed(0)
    fresh = BertForPreTraining(BertConfig(**CONFIGS["h32-4heads-2layers"])).eval()
    batch = make_batch(CONFIGS["h32-4heads-2layers"], batch=8, seq_len=20, seed=3)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        out = fresh(**batch, labels=labels, next_sentence_label=torch.arange(8) % 2)
    assert abs(out.mlm_loss.item() - torch.log(torch.tensor(99.0)).item()) < 0.2
    assert abs(out.nsp_loss.item() - 0.6931) < 0.1


def test_masked_lm_matches_transformers():
    ours, theirs = make_pair(BertForMaskedLM, CONFIGS["h32-4heads-2layers"])
    assert ours.bert.pooler is None  # as transformers' BertForMaskedLM
    batch = make_batch(CONFIGS["h32-4heads-2layers"])
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 2] = torch.tensor([4, 5, 6])
    with torch.no_grad():
        close(ours(**batch).logits, theirs(**batch).logits)
        a, b = ours(**batch, labels=labels), theirs(**batch, labels=labels)
    close(a.loss, b.loss)
    close(a.logits, b.logits[:, 2])


@pytest.mark.parametrize("num_labels", [2, 3])
def test_sequence_classification_matches_transformers(num_labels):
    ours, theirs = make_pair(BertForSequenceClassification, CONFIGS["h24-3heads-3layers-3types"],
                             num_labels=num_labels)
    batch = make_batch(CONFIGS["h24-3heads-3layers-3types"])
    labels = torch.tensor([0, 1, num_labels - 1])
    with torch.no_grad():
        a, b = ours(**batch, labels=labels), theirs(**batch, labels=labels)
    assert a.logits.shape == (3, num_labels)
    close(a.logits, b.logits)
    close(a.loss, b.loss)


def test_regression_head_matches_transformers():
    ours, theirs = make_pair(BertForSequenceClassification, CONFIGS["h16-1head-1layer"], num_labels=1)
    batch = make_batch(CONFIGS["h16-1head-1layer"])
    labels = torch.tensor([0.5, -1.0, 2.0])
    with torch.no_grad():
        close(ours(**batch, labels=labels).loss, theirs(**batch, labels=labels).loss)


def test_outputs_support_attribute_key_and_index_access():
    ours, _ = make_pair(BertModel, CONFIGS["h16-1head-1layer"])
    out = ours(**make_batch(CONFIGS["h16-1head-1layer"]))
    assert out["last_hidden_state"] is out.last_hidden_state is out[0]
    assert out[1] is out.pooler_output
    assert list(out.keys()) == ["last_hidden_state", "pooler_output"]
    with pytest.raises(KeyError):
        out["attentions"]


def test_initialisation_follows_bert():
    torch.manual_seed(0)
    config = BertConfig(**CONFIGS["h32-4heads-2layers"], initializer_range=0.05)
    model = BertForPreTraining(config)
    w = model.bert.encoder.layer[0].intermediate.dense.weight
    assert abs(w.std().item() - 0.05) < 0.005 and abs(w.mean().item()) < 0.005
    assert torch.all(model.bert.encoder.layer[1].output.dense.bias == 0)
    assert torch.all(model.bert.embeddings.LayerNorm.weight == 1)
    assert torch.all(model.bert.embeddings.word_embeddings.weight[config.pad_token_id] == 0)
    assert torch.all(model.cls.predictions.bias == 0)
    # a tied matrix is one parameter: counted once
    assert model.num_parameters() == sum(p.numel() for p in set(model.parameters()))


def test_padding_does_not_change_real_tokens():
    ours, _ = make_pair(BertModel, CONFIGS["h32-4heads-2layers"])
    ids = torch.randint(1, 99, (1, 6))
    with torch.no_grad():
        alone = ours(ids).last_hidden_state
        padded = ours(torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1),
                      attention_mask=torch.tensor([[1] * 6 + [0] * 4])).last_hidden_state
    close(padded[:, :6], alone)


def test_the_all_ones_mask_shortcut_needs_no_host_sync():
    """With the input checks on (the default), an all-ones mask is dropped (faster SDPA) after reading it; with them
    off (training loops), the model never reads the mask and passes it on: the same outputs either way, and no
    bool() of a tensor in the forward."""
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64)).eval()
    ids = torch.randint(5, 99, (2, 7))
    ones = torch.ones_like(ids)
    with torch.no_grad():
        reference = model(ids).last_hidden_state
        checked = model(ids, ones).last_hidden_state
        model.check_inputs = False
        calls = []
        real = torch.Tensor.__bool__
        torch.Tensor.__bool__ = lambda t: calls.append(1) or real(t)
        try:
            unchecked = model(ids, ones).last_hidden_state
        finally:
            torch.Tensor.__bool__ = real
    assert calls == [], "the forward read the mask (a host sync on a GPU)"
    torch.testing.assert_close(checked, reference, atol=0, rtol=0)
    torch.testing.assert_close(unchecked, reference, atol=1e-5, rtol=1e-5)
