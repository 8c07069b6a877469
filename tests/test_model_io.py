"""Checkpoints: real MiniLM weights, round trips with transformers, loading rules, and clear errors."""

import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402  (a hard dependency: never skipped)

from bert_edu.data import assets
from bert_edu.model import convert
from bert_edu.model.config import BertConfig  # noqa: E402
from bert_edu.model.bert import BertModel  # noqa: E402
from bert_edu.model.heads import BertForMaskedLM, BertForPreTraining, BertForSequenceClassification  # noqa: E402

ATOL = 1e-5
TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=40)


def close(a, b):
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def batch(vocab=99, seq_len=9):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (2, seq_len), generator=g)
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    return dict(input_ids=ids, attention_mask=mask, token_type_ids=types)


# ------------------------------------------------------------------------------------------ real weights


@pytest.fixture(scope="module")
def minilm():
    path = assets.minilm_path()
    return path, BertModel.from_pretrained(path), transformers.BertModel.from_pretrained(path).eval()


def test_minilm_weights_match_transformers(minilm):
    path, ours, theirs = minilm
    assert ours.config.hidden_size == 384 and ours.config.num_hidden_layers == 6
    tok = transformers.BertTokenizer(str(path / "vocab.txt"))
    enc = tok(["The cat sat on the mat.", "A dog barked loudly at the passing mailman, twice."],
              ["It was sunny.", "Nobody cared."], padding=True, return_tensors="pt")
    with torch.no_grad():
        a = ours(**enc, output_hidden_states=True)
        b = theirs(**enc, output_hidden_states=True)
    close(a.last_hidden_state, b.last_hidden_state)
    close(a.pooler_output, b.pooler_output)
    for x, y in zip(a.hidden_states, b.hidden_states):
        close(x, y)


def test_minilm_attention_weights_match_transformers_eager(minilm):
    path, ours, _ = minilm
    theirs = transformers.BertModel.from_pretrained(path, attn_implementation="eager").eval()
    ids = torch.tensor([[101, 7592, 2088, 1010, 2129, 2024, 2017, 1029, 102, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        a = ours(ids, attention_mask=mask, output_attentions=True).attentions
        b = theirs(ids, attention_mask=mask, output_attentions=True).attentions
    assert len(a) == 6 and a[0].shape == (1, 12, 11, 11)
    for x, y in zip(a, b):
        close(x, y)


def test_bare_checkpoint_loads_into_heads_with_fresh_heads(capsys):
    path = assets.minilm_path()
    model = BertForSequenceClassification.from_pretrained(path, num_labels=2)
    out = capsys.readouterr().out
    assert "newly initialised" in out and "classifier" in out
    ref = BertModel.from_pretrained(path, verbose=False)
    close(model.bert.encoder.layer[5].output.dense.weight, ref.encoder.layer[5].output.dense.weight)
    pre = BertForPreTraining.from_pretrained(path)
    out = capsys.readouterr().out
    assert "cls.predictions.transform.dense" in out and "cls.seq_relationship" in out
    assert pre.cls.predictions.decoder.weight is pre.bert.embeddings.word_embeddings.weight
    BertForMaskedLM.from_pretrained(path)
    assert "ignored" in capsys.readouterr().out  # MiniLM's pooler: BertForMaskedLM has none


# ------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ours_cls,theirs_name,key", [
    (BertModel, "BertModel", "last_hidden_state"),
    (BertForPreTraining, "BertForPreTraining", "prediction_logits"),
    (BertForMaskedLM, "BertForMaskedLM", "logits"),
    (BertForSequenceClassification, "BertForSequenceClassification", "logits"),
])
def test_ours_saved_loads_in_transformers_and_back(tmp_path, ours_cls, theirs_name, key):
    torch.manual_seed(0)
    ours = ours_cls(BertConfig(**TINY)).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours.save_pretrained(tmp_path / "ours")
    theirs = getattr(transformers, theirs_name).from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        close(ours(**batch())[key], theirs(**batch())[key])
    # and back: transformers saves, we load
    theirs.save_pretrained(tmp_path / "theirs")
    again = ours_cls.from_pretrained(tmp_path / "theirs", verbose=False)
    with torch.no_grad():
        close(again(**batch())[key], theirs(**batch())[key])


def test_transformers_pretraining_checkpoint_into_classifier_ignores_cls(tmp_path, capsys):
    torch.manual_seed(0)
    hf = transformers.BertForPreTraining(transformers.BertConfig(**TINY)).eval()
    hf.save_pretrained(tmp_path)
    clf = BertForSequenceClassification.from_pretrained(tmp_path)
    out = capsys.readouterr().out
    assert "ignored" in out and "cls.predictions" in out and "classifier" in out
    with torch.no_grad():
        close(clf.bert(**batch()).pooler_output, hf.bert(**batch()).pooler_output)


def test_label_names_reach_transformers_pipeline(tmp_path):
    config = BertConfig(**TINY, id2label={0: "negative", 1: "positive"})
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "bert" and saved["architectures"] == ["BertForSequenceClassification"]
    assert saved["id2label"] == {"0": "negative", "1": "positive"}
    hf = transformers.BertForSequenceClassification.from_pretrained(tmp_path)
    assert hf.config.id2label == {0: "negative", 1: "positive"}
    again = BertConfig.from_pretrained(tmp_path)
    assert again.id2label == {0: "negative", 1: "positive"} and again.label2id["positive"] == 1


def test_old_names_and_pytorch_bin_and_decoder_duplicates(tmp_path):
    """gamma/beta LayerNorm names, pytorch_model.bin, and a saved cls.predictions.decoder.* all load."""
    torch.manual_seed(0)
    ref = BertForPreTraining(BertConfig(**TINY)).eval()
    state = {}
    for k, v in ref.state_dict().items():  # includes cls.predictions.decoder.weight/bias duplicates
        k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[k] = v.clone()
    state["bert.embeddings.position_ids"] = torch.arange(40)[None]
    BertConfig(**TINY).save_pretrained(tmp_path)
    torch.save(state, tmp_path / "pytorch_model.bin")
    loaded = BertForPreTraining.from_pretrained(tmp_path, verbose=False)
    with torch.no_grad():
        close(loaded(**batch()).prediction_logits, ref(**batch()).prediction_logits)


# ---------------------------------------------------------------------------------------------- errors


def save_state(tmp_path, state, config=TINY):
    from safetensors.torch import save_file

    BertConfig(**config).save_pretrained(tmp_path)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))


def test_missing_encoder_weights_are_an_error_listing_them(tmp_path):
    state = convert.ours_to_hf(BertModel(BertConfig(**TINY)))
    del state["encoder.layer.1.attention.self.key.weight"]
    del state["embeddings.LayerNorm.bias"]
    save_state(tmp_path, state)
    with pytest.raises(convert.CheckpointError, match=r"lacks 2 weight.*embeddings\.LayerNorm\.bias.*"
                                                      r"encoder\.layer\.1\.attention\.self\.key\.weight"):
        BertModel.from_pretrained(tmp_path)


def test_foreign_keys_are_an_error_listing_them(tmp_path):
    state = convert.ours_to_hf(BertModel(BertConfig(**TINY)))
    state["transformer.h.0.attn.c_attn.weight"] = torch.zeros(2, 2)
    save_state(tmp_path, state)
    with pytest.raises(convert.CheckpointError, match=r"belong to no BERT module: transformer\.h\.0\.attn"):
        BertForSequenceClassification.from_pretrained(tmp_path)


def test_shape_mismatch_is_an_error(tmp_path):
    state = convert.ours_to_hf(BertModel(BertConfig(**TINY)))
    save_state(tmp_path, state, config=dict(TINY, intermediate_size=48))
    with pytest.raises(convert.CheckpointError, match=r"shape mismatch.*intermediate\.dense\.weight"):
        BertModel.from_pretrained(tmp_path)


def test_fewer_layers_in_checkpoint_than_config_is_an_error(tmp_path):
    state = convert.ours_to_hf(BertModel(BertConfig(**TINY)))
    save_state(tmp_path, state, config=dict(TINY, num_hidden_layers=3))
    with pytest.raises(convert.CheckpointError, match=r"encoder\.layer\.2\."):
        BertModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("change,message", [
    (dict(model_type="gpt2"), "'gpt2' model, not BERT"),
    (dict(hidden_size=30), "not divisible by num_attention_heads"),
    (dict(position_embedding_type="relative_key"), "position_embedding_type='relative_key' is not supported"),
    (dict(is_decoder=True), "encoder only"),
    (dict(hidden_act="swish"), "hidden_act='swish' is not supported"),
])
def test_config_that_is_not_berts_is_an_error(tmp_path, change, message):
    (tmp_path / "config.json").write_text(json.dumps({**TINY, "model_type": "bert", **change}))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BertConfig.from_pretrained(tmp_path)


def test_config_round_trip_keeps_fields_and_extras(tmp_path):
    (tmp_path / "config.json").write_text((assets.minilm_path() / "config.json").read_text())
    config = BertConfig.from_pretrained(tmp_path)
    config.save_pretrained(tmp_path / "again")
    again = BertConfig.from_pretrained(tmp_path / "again")
    assert again == config and again.extra["_name_or_path"] == "nreimers/MiniLM-L6-H384-uncased"
    assert BertConfig.from_dict(config.to_dict()) == config
    hf = transformers.BertConfig.from_pretrained(tmp_path / "again")
    assert hf.hidden_size == 384 and hf.num_attention_heads == 12


def test_bad_inputs_name_the_problem_and_the_fix():
    model = BertModel(BertConfig(**TINY)).eval()
    with pytest.raises(ValueError, match=r"41 tokens.*only 40 position embeddings.*max_length=40"):
        model(torch.ones(1, 41, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token id 99 is outside the vocabulary \[0, 99\)"):
        model(torch.tensor([[1, 2, 99]]))
    with pytest.raises(ValueError, match=r"token id -1 is outside the vocabulary"):
        model(torch.tensor([[1, -1, 3]]))
    with pytest.raises(ValueError, match=r"token_type_ids contains 2.*type_vocab_size=2"):
        model(torch.tensor([[1, 2, 3]]), token_type_ids=torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"shape \(batch, seq_len\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 2\)"):
        model(torch.tensor([[1, 2, 3]]), attention_mask=torch.tensor([[1, 1]]))
    clf = BertForSequenceClassification(BertConfig(**TINY, num_labels=3))
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        clf(torch.tensor([[1, 2, 3]]), labels=torch.tensor([3]))


def test_name_map_covers_every_parameter():
    """Each parameter of every head model is described by one NAME_MAP row (the table learners read)."""
    import re

    patterns = [re.compile("^" + re.escape(hf).replace(r"\{i\}", r"\d+")
                           .replace(r"\{weight,bias\}", "(weight|bias)") + "$") for hf, _, _ in convert.NAME_MAP]
    config = BertConfig(**TINY)
    for cls in (BertModel, BertForPreTraining, BertForSequenceClassification):
        for name in convert.ours_to_hf(cls(config)):
            name = name.removeprefix("bert.")
            assert sum(bool(p.match(name)) for p in patterns) == 1, name


def test_num_parameters_matches_transformers_keywords():
    """transformers' Trainer calls num_parameters(exclude_embeddings=True) on the model it trains."""
    import transformers

    from bert_edu import BertConfig, BertModel

    kw = dict(vocab_size=100, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
              intermediate_size=16, max_position_embeddings=32)
    ours, theirs = BertModel(BertConfig(**kw)), transformers.BertModel(transformers.BertConfig(**kw))
    for options in ({}, {"exclude_embeddings": True}, {"only_trainable": True}):
        assert ours.num_parameters(**options) == theirs.num_parameters(**options)
    ours.embeddings.word_embeddings.weight.requires_grad_(False)
    assert ours.num_parameters(only_trainable=True) == ours.num_parameters() - 800
