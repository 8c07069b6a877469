"""The transformers <-> bert_edu equivalence map (convert.NAME_MAP, used by notebook 09 through hf_bridge):

* it covers every parameter of every model we mirror, each exactly once, and has no stale row;
* each mapped pair holds the same tensor after loading and computes the same output on the same input;
* and the checks can fail: a changed weight, an unknown name and a wrong module are all caught.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import bert_edu  # noqa: E402
from bert_edu.model import convert
from bert_edu.course import hf_bridge

CLASSES = ["BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForSequenceClassification"]


def tiny_config(**overrides):
    kwargs = dict(vocab_size=101, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                  intermediate_size=48, max_position_embeddings=64, type_vocab_size=2, num_labels=3)
    kwargs.update(overrides)
    return transformers.BertConfig(**kwargs)


def inputs(vocab_size=101, seed=0):
    """A padded batch of sentence pairs: masks and segments both matter."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, vocab_size, (3, 11), generator=g)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 7:] = 0
    attention_mask[2, 4:] = 0
    input_ids[attention_mask == 0] = 0
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    token_type_ids[attention_mask == 0] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def pair(name, tmp_path, seed=0, **config_overrides):
    """A randomly initialised transformers model and ours loaded from its checkpoint."""
    torch.manual_seed(seed)
    hf = getattr(transformers, name)(tiny_config(**config_overrides)).eval()
    hf.save_pretrained(tmp_path / name)
    ours = getattr(bert_edu, name).from_pretrained(tmp_path / name, verbose=False).eval()
    return hf, ours


@pytest.mark.parametrize("name", CLASSES)
def test_map_covers_every_parameter_once(name, tmp_path):
    hf, ours = pair(name, tmp_path)
    hf_names = {n for n, _ in hf.named_parameters()}
    mapping = hf_bridge.map_parameters(hf_names)  # raises if a name has no row, or two
    assert set(mapping) == hf_names
    assert {n for n, _ in ours.named_parameters()} == hf_names  # same names on both sides
    # the state dict also holds tied duplicates and buffers: each is accounted for by convert
    leftover = set(hf.state_dict()) - hf_names - set(convert.TIED) - {
        k for k in hf.state_dict() if k.endswith(convert.BUFFERS)}
    assert not leftover, leftover


def test_every_row_of_the_map_is_used(tmp_path):
    used = set()
    for name in CLASSES:
        hf, _ = pair(name, tmp_path)
        used |= {row[0] for row in hf_bridge.map_parameters(n for n, _ in hf.named_parameters()).values()}
    assert used == {hf for hf, _, _ in convert.NAME_MAP}


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_each_mapped_pair_computes_the_same(name, attn, tmp_path):
    hf, ours = pair(name, tmp_path, seed=1, attn_implementation=attn)
    rows = hf_bridge.side_by_side(hf, ours, inputs())
    assert sum(r["n_tensors"] for r in rows) == len(list(hf.parameters()))
    for r in rows:
        assert r["max_param_diff"] == 0.0, r
        assert r["max_output_diff"] <= 1e-5, r
        assert r["notebook"], f"no notebook named for {r['documented']}"
        assert r["transformers"] == r["bert_edu"] == r["documented"], r  # same classes, same names


def test_a_changed_weight_is_caught(tmp_path):
    hf, ours = pair("BertForPreTraining", tmp_path)
    with torch.no_grad():
        ours.bert.encoder.layer[1].intermediate.dense.weight[0, 0] += 0.5
    rows = {r["parameters"]: r for r in hf_bridge.side_by_side(hf, ours, inputs())}
    bad = rows["encoder.layer.{i}.intermediate.dense.{weight,bias}"]
    assert bad["max_param_diff"] == pytest.approx(0.5)
    assert bad["max_output_diff"] > 1e-3
    assert rows["embeddings.word_embeddings.weight"]["max_output_diff"] == 0.0  # upstream: untouched


def test_unmapped_names_are_errors():
    with pytest.raises(KeyError, match="encoder.layer.0.attention.self.rotary.weight"):
        hf_bridge.map_parameters(["embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.rotary.weight"])
    with pytest.raises(KeyError, match="qa_outputs.weight"):  # a head we do not mirror
        hf_bridge.map_parameters(["qa_outputs.weight"])


def test_module_outputs_sees_each_named_module(tmp_path):
    hf, ours = pair("BertModel", tmp_path)
    hf_out, our_out = hf_bridge.module_outputs(hf, inputs()), hf_bridge.module_outputs(ours, inputs())
    for module in ("embeddings", "encoder.layer.2.attention.self", "encoder.layer.2.output", "pooler"):
        torch.testing.assert_close(our_out[module], hf_out[module], atol=1e-5, rtol=1e-5)
    assert our_out["encoder.layer.0.output"].shape == (3, 11, 32)
    # different modules really do differ (the hooks do not all see the same tensor)
    assert not torch.allclose(our_out["encoder.layer.0.output"], our_out["encoder.layer.1.output"])
