"""bert_edu.course.viz: the attention analyses on hand-made matrices with known answers, head masking, the
bertviz adapters, and our model's attention weights against transformers' (MiniLM weights)."""

import json
import math
import os
import re

import pytest
import torch

from bert_edu.course import viz
from bert_edu import BertConfig, BertModel, BertTokenizer
from bert_edu.data.assets import minilm_path

T = 4
IDENTITY = torch.eye(T)  # every token looks at itself
PREVIOUS = torch.eye(T).roll(-1, dims=1)  # row i -> column i-1 (row 0 wraps to the last column)
UNIFORM = torch.full((T, T), 1 / T)


def test_offset_attention_finds_positional_heads():
    assert viz.offset_attention(IDENTITY, 0) == 1
    assert viz.offset_attention(IDENTITY, -1) == 0
    # rows 1..3 put everything on i-1; row 0 (no previous token) is not counted
    assert viz.offset_attention(PREVIOUS, -1) == 1
    assert viz.offset_attention(PREVIOUS, +1) == 0
    assert viz.offset_attention(PREVIOUS.T, +1) == 1  # the transpose looks at the next token


def test_head_entropy_from_focused_to_uniform():
    assert viz.head_entropy(IDENTITY) == 0  # 0 * log 0 counts as 0, not nan
    torch.testing.assert_close(viz.head_entropy(UNIFORM), torch.tensor(math.log(T)))
    half = torch.tensor([[0.5, 0.5, 0.0, 0.0]]).expand(T, T)
    torch.testing.assert_close(viz.head_entropy(half), torch.tensor(math.log(2)))


def test_attention_distance():
    assert viz.attention_distance(IDENTITY) == 0
    # rows 1..3 look 1 back; row 0 looks 3 ahead (the wrap-around)
    torch.testing.assert_close(viz.attention_distance(PREVIOUS), torch.tensor((0 + 1 + 1 + 1 + 3 - 0) / 4))
    # uniform: row means of |i - j| are 1.5, 1, 1, 1.5
    torch.testing.assert_close(viz.attention_distance(UNIFORM), torch.tensor(1.25))


def test_attention_to_special_tokens_and_punctuation():
    tokens = ["[CLS]", "hello", ",", "[SEP]"]
    assert viz.key_mask(tokens, "punctuation").tolist() == [False, False, True, False]
    assert viz.is_punctuation("--") and viz.is_punctuation("'") and not viz.is_punctuation("[SEP]")
    torch.testing.assert_close(viz.attention_to(UNIFORM, viz.key_mask(tokens, "[SEP]")), torch.tensor(0.25))
    # PREVIOUS: only row 0 attends to [SEP] (position 3), only row 1 to [CLS]
    torch.testing.assert_close(viz.attention_to(PREVIOUS, viz.key_mask(tokens, "[SEP]")), torch.tensor(0.25))
    torch.testing.assert_close(viz.attention_to(IDENTITY, viz.key_mask(tokens, "punctuation")), torch.tensor(0.25))


def test_cross_segment_attention():
    # [CLS] a [SEP] | b [SEP] with b_start = 3: under uniform attention A sends 2/5 to B, B sends 3/5 to A
    uniform5 = torch.full((5, 5), 0.2)
    a_to_b, b_to_a = viz.cross_segment_attention(uniform5, 3)
    torch.testing.assert_close(a_to_b, torch.tensor(0.4))
    torch.testing.assert_close(b_to_a, torch.tensor(0.6))
    assert viz.cross_segment_attention(torch.eye(5), 3) == (0, 0)
    with pytest.raises(ValueError, match="b_start"):
        viz.cross_segment_attention(uniform5, 0)


def test_head_statistics_shapes_and_mean():
    attn = torch.stack([torch.stack([IDENTITY, PREVIOUS, UNIFORM])] * 2)  # (2 layers, 3 heads, T, T)
    tokens = ["[CLS]", "a", ".", "[SEP]"]
    stats = viz.head_statistics(attn, tokens)
    assert set(stats) == {"[CLS]", "[SEP]", "punctuation", "self", "previous", "next", "entropy", "distance"}
    assert all(v.shape == (2, 3) for v in stats.values())
    assert stats["previous"][1, 1] == 1 and stats["self"][0, 0] == 1
    doubled = {k: 2 * v for k, v in stats.items()}
    mean = viz.mean_statistics([stats, doubled])
    torch.testing.assert_close(mean["entropy"], 1.5 * stats["entropy"])
    assert viz.top_heads(stats["previous"], k=2)[0][:2] in [(0, 1), (1, 1)]
    with pytest.raises(ValueError, match="tokens"):
        viz.head_statistics(attn, tokens[:3])
    with pytest.raises(ValueError, match="no examples"):
        viz.mean_statistics([])


def test_stack_layers_picks_one_example_and_trims_padding():
    layers = tuple(torch.rand(3, 2, 5, 5) for _ in range(4))  # 4 layers, batch 3, 2 heads, T = 5
    attn = viz.stack_layers(layers, index=1, length=4)
    assert attn.shape == (4, 2, 4, 4)
    assert torch.equal(attn[2], layers[2][1, :, :4, :4])
    with pytest.raises(ValueError, match="output_attentions=True"):
        viz.stack_layers(None)
    with pytest.raises(IndexError):
        viz.stack_layers(layers, index=3)


def test_mask_head_zeroes_one_slice_only():
    context = torch.randn(2, 3, 12)  # 4 heads of width 3
    masked = viz.mask_head(context, head=1, num_heads=4)
    assert torch.equal(masked[..., 3:6], torch.zeros(2, 3, 3))
    assert torch.equal(masked[..., :3], context[..., :3]) and torch.equal(masked[..., 6:], context[..., 6:])
    assert context[..., 3:6].abs().sum() > 0  # the input is left alone
    with pytest.raises(ValueError):
        viz.mask_head(context, head=4, num_heads=4)
    with pytest.raises(ValueError):
        viz.mask_head(context, head=0, num_heads=5)


def _tiny_model():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=32, max_position_embeddings=16)
    return BertModel(config).eval()


def test_masked_heads_switches_heads_off_and_back_on():
    model = _tiny_model()
    ids = torch.randint(5, 50, (2, 7))
    with torch.no_grad():
        before = model(ids).last_hidden_state
        # every head of layer 0 masked = the attention sub-layer sees an all-zero context
        seen = []
        with viz.masked_heads(model, [(0, h) for h in range(4)]):
            # registered after the masking hook, so it sees what W_O receives
            hook = model.encoder.layer[0].attention.output.dense.register_forward_pre_hook(
                lambda module, args: seen.append(args[0]))
            masked = model(ids).last_hidden_state
            hook.remove()
        after = model(ids).last_hidden_state
        with viz.masked_heads(model, [(1, 2)]):
            one = model(ids).last_hidden_state
    assert torch.equal(seen[0], torch.zeros_like(seen[0]))
    assert not torch.allclose(before, masked)
    assert torch.equal(before, after)  # the hooks are gone after the with block
    assert not torch.allclose(before, one)
    with pytest.raises(ValueError, match="layer"):
        with viz.masked_heads(model, [(2, 0)]):
            pass


def test_bertviz_adapters_return_html_for_our_tokens(tmp_path):
    model = _tiny_model()
    ids = torch.randint(5, 50, (2, 6))
    out = model(ids, output_attentions=True)
    tokens = ["[CLS]", "hello", "wörld", "!", "[SEP]"]  # 5 of the 6 positions: the last is "padding"
    html = viz.head_view_html(out.attentions, tokens, index=1)
    assert json.dumps("wörld") in html
    assert "<script src=" not in html and html.count("data-bert-edu-library") == 3  # its libraries inline
    params = json.loads(html.split("const params = ", 1)[1].split("; // HACK", 1)[0])
    drawn = torch.tensor(params["attention"][0]["attn"])  # (layers, heads, 5, 5): example 1, padding dropped
    expected = viz.stack_layers(out.attentions, index=1, length=5)
    torch.testing.assert_close(drawn, expected, atol=5e-4, rtol=0)
    assert torch.equal(drawn, drawn.round(decimals=3))  # rounded: a 4x smaller page
    assert html.count('"left_text"') == 1  # the data is in the page once (bertviz pastes it twice)
    pair_html = viz.model_view_html(out.attentions, tokens, sentence_b_start=3, decimals=None)
    assert "Sentence A -> Sentence B" in pair_html and pair_html.count('"left_text"') == 5
    with pytest.raises(ValueError, match="tokens"):
        viz.head_view_html(out.attentions, tokens + ["a", "b"])
    page = viz.save_html(html, tmp_path / "views" / "head.html", title="a <title>")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text and html in text
    assert "a &lt;title&gt;" in text


def test_the_libraries_are_inlined_from_the_pinned_assets():
    """bertviz's page asks the CDN for require.js (a <script src>); ours carries require.js, d3 and jQuery
    (our pinned copies), with d3 and jQuery registered under the names bertviz's require() asks for."""
    from bert_edu.data import assets

    model = _tiny_model()
    out = model(torch.randint(5, 50, (1, 4)), output_attentions=True)
    tokens = ["[CLS]", "a", "b", "[SEP]"]
    cdn = viz.head_view_html(out.attentions, tokens, inline_libraries=False)
    for url in viz.BERTVIZ_SCRIPTS.values():  # require.js is a <script src>, d3/jQuery are require paths
        assert url.removesuffix(".js") in cdn, f"bertviz no longer loads {url}: update viz.BERTVIZ_SCRIPTS"
    html = viz.head_view_html(out.attentions, tokens)
    same_id = lambda page: re.sub(r"bertviz-[0-9a-f]{32}", "bertviz-ID", page)  # noqa: E731  a new id per view
    assert same_id(html.replace(viz.library_scripts(), "")) == same_id(cdn.replace(
        f'<script src="{viz.BERTVIZ_SCRIPTS["require.js"]}"></script>', ""))  # nothing else changed
    for name, (asset, filename) in viz.BERTVIZ_LIBRARIES.items():
        source = (assets.get(asset) / filename).read_text(encoding="utf-8")
        assert source in html, name
    assert 'window.define("d3"' in html and 'window.define("jquery"' in html
    assert html.index('data-bert-edu-library="require.js"') < html.index('data-bert-edu-library="d3"')
    with pytest.raises(ValueError, match="no longer loads"):
        viz.with_inline_libraries("<div>not a bertviz page</div>")


def test_committed_notebooks_do_not_carry_the_libraries():
    """Third-party code is never committed: the notebook tool strips the inlined libraries from saved
    outputs (a saved notebook runs no scripts until it is trusted and re-run anyway)."""
    import json as json_module
    from pathlib import Path

    from bert_edu.course.notebooks import clean

    model = _tiny_model()
    out = model(torch.randint(5, 50, (1, 4)), output_attentions=True)
    html = viz.model_view_html(out.attentions, ["[CLS]", "a", "b", "[SEP]"])
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"text/html": html.splitlines(keepends=True),
                                                 "text/plain": ["<IPython.core.display.HTML object>"]}}]}]}
    assert viz.strip_libraries_from_notebook(nb) == 1
    stripped = "".join(nb["cells"][0]["outputs"][0]["data"]["text/html"])
    assert stripped.count("data-bert-edu-library") == 3 and len(stripped) < len(html) - 300_000
    assert "inlined when the cell runs" in stripped and '"left_text"' in stripped  # the data stays
    assert viz.strip_libraries_from_notebook(nb) == 0  # nothing left to strip
    import nbformat

    node = nbformat.from_dict({"cells": [nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": html})])], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    clean(node)  # what `python -m bert_edu.course.notebooks execute` does before saving
    assert len(node.cells[0].outputs[0].data["text/html"]) < len(html) - 300_000
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        text = json_module.dumps(json_module.loads(path.read_text(encoding="utf-8")))
        assert "jQuery v2" not in text and "d3js.org v5" not in text and "RequireJS 2" not in text, path.name


def test_plots_label_tokens_layers_and_heads():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attn = torch.softmax(torch.randn(2, 3, 5, 5), dim=-1)
    tokens = ["[CLS]", "a", "b", "[SEP]", "c"]
    ax = viz.plot_head(attn, tokens, layer=1, head=2)
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens and ax.get_title() == "layer 1, head 2"
    assert (ax.images[0].get_array() == attn[1, 2].numpy()).all()
    with pytest.raises(ValueError, match="layer= and head="):
        viz.plot_head(attn, tokens)
    fig = viz.plot_all_heads(attn)
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "head 0" and fig.axes[3].get_ylabel() == "layer 1"
    ax = viz.plot_head_scores(attn[..., 0, 0], "scores")
    assert len(ax.texts) == 6
    ax = viz.plot_per_layer({"x": attn[..., 0, 0]}, ylabel="share")
    assert list(ax.lines[0].get_ydata()) == pytest.approx(attn[..., 0, 0].mean(-1).tolist())
    fig = viz.plot_sentence_pair(attn, tokens, b_start=3, layer=0, head=1)
    left, right = fig.axes[:2]
    assert [t.get_text() for t in left.get_xticklabels()] == tokens[3:]
    assert [t.get_text() for t in right.get_xticklabels()] == tokens[:3]
    assert (right.images[0].get_array() == attn[0, 1, 3:, :3].numpy()).all()
    plt.close("all")


# ----------------------------------------------------------------------------------------------
# our attention weights = transformers' eager ones, with the real MiniLM weights


@pytest.fixture(scope="module")
def minilm_pair():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    ours = BertModel.from_pretrained(minilm_path(), verbose=False).eval()
    theirs = transformers.BertModel.from_pretrained(str(minilm_path()), attn_implementation="eager").eval()
    return ours, theirs, BertTokenizer.from_pretrained(minilm_path())


@pytest.mark.parametrize("texts", [
    (["The cat sat on the mat."], None),
    (["A sentence pair: does B follow A?"], ["Yes, it does."]),
    (["short one", "a much longer sentence, which makes the first one padded"], None),
])
def test_attention_weights_equal_transformers(minilm_pair, texts):
    ours, theirs, tokenizer = minilm_pair
    enc = tokenizer(texts[0], texts[1], padding=True, return_tensors="pt")
    with torch.no_grad():
        a = ours(**enc, output_attentions=True).attentions
        b = theirs(**enc, output_attentions=True).attentions
    assert len(a) == len(b) == 6
    for layer_ours, layer_theirs in zip(a, b):
        assert layer_ours.shape == layer_theirs.shape == (len(texts[0]), 12, enc["input_ids"].shape[1],
                                                          enc["input_ids"].shape[1])
        torch.testing.assert_close(layer_ours, layer_theirs, atol=1e-5, rtol=0)
