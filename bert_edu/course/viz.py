"""Look inside attention: the numbers behind the pictures (computed in :mod:`bert_edu.analysis.attention_heads`,
re-exported here), static matplotlib views, and bertviz pages (notebook 06).

Everything here takes what a BERT returns with ``output_attentions=True``: a tuple with one tensor of
shape ``(batch, heads, T, T)`` per layer, where row ``i`` of a head is how query token ``i`` spreads
its attention over the ``T`` key tokens (each row sums to one). ``stack_layers`` turns that tuple into
one ``(layers, heads, T, T)`` tensor for a single example; every analysis below works on such a tensor
(or on any ``(..., T, T)`` tensor) and returns one number per head, i.e. a ``(layers, heads)`` tensor.

The analyses follow Clark et al. (2019), "What Does BERT Look At? An Analysis of BERT's Attention":

* ``attention_to(attn, keys)``: the share of attention that lands on some keys (``[CLS]``, ``[SEP]``,
  punctuation), averaged over the query tokens.
* ``offset_attention(attn, -1)``: how much each token looks at the previous (``-1``) or next (``+1``)
  token: the positional heads.
* ``head_entropy(attn)``: broad heads (high entropy, up to ``log T``) vs focused heads (near 0).
* ``attention_distance(attn)``: how many positions away the attended tokens are, on average.
* ``cross_segment_attention(attn, b_start)``: in a sentence pair, the share of A's attention that goes
  to B, and of B's that goes to A.

``head_statistics`` computes all of these for one example; ``mean_statistics`` averages them over many;
``collect_statistics`` runs a model over a list of sentences (or pairs) and does both, together with the
same statistics for a uniform-attention head, the baseline. ``top_heads`` ranks the heads.

The ``plot_*`` functions draw with matplotlib (offline, static). ``head_view_html``/``model_view_html``
build bertviz's interactive views with their JavaScript libraries inline (bertviz's own pages fetch them
from a CDN: blank offline), and ``save_html`` writes them as a standalone page that draws with no network. ``mask_head`` and ``masked_heads`` switch heads off.

``use_cjk_font()`` lets matplotlib draw Chinese characters (notebook 13's attention maps): matplotlib's own
DejaVu Sans has no Chinese glyphs, so a label such as "这家酒店" would draw as empty boxes. It registers the
course's pinned Noto Sans CJK font (the ``cjk_font`` asset, SIL OFL 1.1; ``cjk_font()`` is its path).
"""

from __future__ import annotations

import re
from html import escape as html_escape
from pathlib import Path

import torch

# The statistics and head masking live in bert_edu.analysis.attention_heads (pure torch, below the exercises'
# checkers); re-exported here so `viz.top_heads`, `viz.mask_head`, ... keep working.
from bert_edu.analysis.attention_heads import (  # noqa: F401
    attention_distance, attention_to, collect_statistics, cross_segment_attention, head_entropy, head_statistics,
    is_punctuation, key_mask, mask_head, masked_heads, mean_statistics, offset_attention, stack_layers, top_heads,
)

# The three libraries bertviz's pages load from a CDN when they open (bertviz 1.4's head_view.py/.js and
# model_view.js): require.js as a <script src>, d3 and jQuery through require.js. Offline, or behind a firewall,
# such a page stays blank, so we inline our own copies (BERTVIZ_LIBRARIES) and the page needs no network.
BERTVIZ_CDN = "https://cdnjs.cloudflare.com/ajax/libs/"
BERTVIZ_SCRIPTS = {
    "require.js": BERTVIZ_CDN + "require.js/2.3.6/require.min.js",
    "d3": BERTVIZ_CDN + "d3/5.7.0/d3.min.js",
    "jquery": BERTVIZ_CDN + "jquery/2.0.0/jquery.min.js",
}
# library -> (asset, file): copies from PyPI wheels, pinned and sha256-checked (bert_edu.data.assets).
# d3 5.7.0 is the very file bertviz asks for; jQuery 2.0.3 and require.js 2.1.22 are the closest releases
# on PyPI (bertviz asks for 2.0.0 and 2.3.6; it only calls $(), .append, .val, .text, .on, .empty and
# require.config / requirejs, unchanged across those versions).
BERTVIZ_LIBRARIES = {
    "require.js": ("requirejs_jquery", "require.js"),
    "d3": ("d3", "d3.v5.min.js"),
    "jquery": ("requirejs_jquery", "jquery.min.js"),
}


# ----------------------------------------------------------------------------------------------
# Chinese characters in matplotlib figures

CJK_FAMILY = "Noto Sans CJK SC"  # the simplified-Chinese face of the collection (the regional glyph forms)


def cjk_font() -> Path:
    """The Noto Sans CJK font collection (.ttc) of the ``cjk_font`` asset: fetched once (16 MB from PyPI,
    pinned, sha256-checked), then read from the cache; with ``BERT_EDU_OFFLINE=1`` a missing copy raises
    :class:`bert_edu.data.assets.AssetError` naming the fix."""
    from bert_edu.data import assets

    return assets.cjk_font_path()


def use_cjk_font() -> str:
    """Register :func:`cjk_font` with matplotlib and put it first in ``rcParams["font.sans-serif"]`` (matplotlib's
    default family), so Chinese labels draw as characters; the font has Latin letters, digits and the minus sign
    too, so English labels still draw. Call it before drawing. Returns the family used (``"Noto Sans CJK SC"``;
    the collection's first face, ``"Noto Sans CJK JP"``, on a matplotlib older than 3.11, which registers one face
    of a collection only: it draws the same characters)."""
    import matplotlib as mpl
    from matplotlib import font_manager

    path = cjk_font()
    manager = font_manager.fontManager

    def families() -> list[str]:
        return [entry.name for entry in manager.ttflist if Path(entry.fname) == path]

    if not families():  # once per process: addfont appends to the list every time it is called
        manager.addfont(path)
    found = families()
    family = CJK_FAMILY if CJK_FAMILY in found else found[0]
    mpl.rcParams["font.sans-serif"] = [family, *(f for f in mpl.rcParams["font.sans-serif"] if f != family)]
    return family


# ----------------------------------------------------------------------------------------------
# static views (matplotlib)


def plot_head(attn: torch.Tensor, tokens: list[str], layer: int | None = None, head: int | None = None,
              ax=None, title: str | None = None, key_tokens: list[str] | None = None, vmax: float = 1.0):
    """Heatmap of one head: rows are queries ("from"), columns are keys ("to").

    ``attn``: ``(T, T)``, or ``(layers, heads, T, T)`` together with ``layer`` and ``head``.
    ``key_tokens``: the column labels when keys differ from queries (e.g. a sentence-pair block).
    ``vmax``: the weight drawn darkest (1 by default, so that heatmaps of different heads compare).
    """
    import matplotlib.pyplot as plt

    if attn.dim() == 4:
        if layer is None or head is None:
            raise ValueError("pass layer= and head= to pick one head from a (layers, heads, T, T) tensor")
        matrix = attn[layer, head]
        title = title or f"layer {layer}, head {head}"
    else:
        matrix = attn
    key_tokens = tokens if key_tokens is None else key_tokens
    if ax is None:
        size = min(7.0, 1.5 + 0.22 * max(len(tokens), len(key_tokens)))
        _, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix.detach().cpu().numpy(), cmap="Blues", vmin=0, vmax=vmax)
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
    ax.set_xlabel("attends to (key)")
    ax.set_ylabel("token (query)")
    if title:
        ax.set_title(title)
    return ax


def plot_all_heads(attn: torch.Tensor, title: str | None = None, cell: float = 0.9):
    """The ``layers x heads`` grid of small heatmaps for one example (rows: layers, columns: heads)."""
    import matplotlib.pyplot as plt

    n_layers, n_heads = attn.shape[:2]
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(cell * n_heads, cell * n_layers), squeeze=False)
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            ax.imshow(attn[layer, head].numpy(), cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head}", fontsize=8)
            if head == 0:
                ax.set_ylabel(f"layer {layer}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_per_layer(series: dict[str, torch.Tensor], ylabel: str, ax=None, title: str | None = None):
    """One line per entry of ``series`` (each a ``(layers, heads)`` tensor), averaged over heads, with
    every individual head as a faint dot so the spread between heads stays visible."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for i, (name, scores) in enumerate(series.items()):
        color = f"C{i}"
        layers = torch.arange(scores.shape[0])
        ax.scatter(layers[:, None].expand_as(scores).flatten(), scores.flatten(), s=8, alpha=0.3, color=color)
        ax.plot(layers, scores.mean(-1), marker="o", color=color, label=f"{name} (mean over heads)")
    ax.set_xlabel("layer")
    ax.set_xticks(range(scores.shape[0]))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_head_scores(scores: torch.Tensor, title: str, ax=None, fmt: str = "{:.2f}", cmap: str = "viridis"):
    """A ``(layers, heads)`` table of one number per head, as a heatmap with the values written in."""
    import matplotlib.pyplot as plt

    n_layers, n_heads = scores.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * n_heads + 1.5, 0.45 * n_layers + 1))
    image = ax.imshow(scores.numpy(), cmap=cmap)
    low, high = float(scores.min()), float(scores.max())
    for layer in range(n_layers):
        for head in range(n_heads):
            value = float(scores[layer, head])
            light = (value - low) < 0.6 * (high - low)  # dark background: write in white
            ax.text(head, layer, fmt.format(value), ha="center", va="center", fontsize=7,
                    color="white" if light else "black")
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax


def plot_sentence_pair(attn: torch.Tensor, tokens: list[str], b_start: int, layer: int, head: int):
    """One head on a sentence pair, as two panels: A's tokens attending to B, and B's attending to A.

    Cross-segment weights are often small, so the colour scale ends at the largest weight shown.
    """
    import matplotlib.pyplot as plt

    matrix = attn[layer, head]
    a, b = tokens[:b_start], tokens[b_start:]
    a_to_b, b_to_a = matrix[:b_start, b_start:], matrix[b_start:, :b_start]
    vmax = float(max(a_to_b.max(), b_to_a.max()))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    plot_head(a_to_b, a, key_tokens=b, ax=left, title=f"A -> B (layer {layer}, head {head})", vmax=vmax)
    plot_head(b_to_a, b, key_tokens=a, ax=right, title=f"B -> A (layer {layer}, head {head})", vmax=vmax)
    fig.colorbar(right.images[0], ax=[left, right], shrink=0.7, label="attention weight")
    return fig


# ----------------------------------------------------------------------------------------------
# bertviz: interactive views from our attentions


def _bertviz_inputs(attentions, tokens, index: int, decimals: int | None):
    attn = stack_layers(attentions, index=index)
    if len(tokens) > attn.shape[-1]:
        raise ValueError(f"{len(tokens)} tokens but the attention covers only {attn.shape[-1]} positions: pass "
                         "the tokens of the same input (tokenizer.convert_ids_to_tokens(input_ids[index]))")
    attn = attn[..., :len(tokens), :len(tokens)]  # fewer tokens than positions: drop the right padding
    if decimals is not None:  # 3 decimals are plenty to draw, and make the page ~4x smaller
        # in float64, so that 0.123 prints as "0.123" and not as float32's 0.12300000339746475
        attn = attn.double().round(decimals=decimals)
    # bertviz wants one (1, heads, T, T) tensor per layer
    return [layer_attn[None] for layer_attn in attn]


def _drop_params_copy(html: str) -> str:
    """bertviz pastes the data into its template twice: in the code and in a comment on the same line
    ("// HACK: PYTHON_PARAMS is a template marker ..."). Remove the copy in the comment: half the size."""
    return re.sub(r"// HACK: .* is a template marker", "// HACK: PYTHON_PARAMS is a template marker", html, count=1)


def head_view_html(attentions, tokens: list[str], sentence_b_start: int | None = None, *, index: int = 0,
                   decimals: int | None = 3, inline_libraries: bool = True, **kwargs) -> str:
    """bertviz's head view (all heads of one layer, lines from each token to the tokens it attends to)
    of example ``index``, as HTML text. ``tokens`` are that example's tokens, without padding.
    ``inline_libraries=False`` keeps bertviz's own page, which loads its libraries from a CDN."""
    from bertviz import head_view

    layers = _bertviz_inputs(attentions, tokens, index, decimals)
    html = head_view(layers, list(tokens), sentence_b_start=sentence_b_start, html_action="return", **kwargs).data
    html = _drop_params_copy(html)
    return with_inline_libraries(html) if inline_libraries else html


def model_view_html(attentions, tokens: list[str], sentence_b_start: int | None = None, *, index: int = 0,
                    decimals: int | None = 3, inline_libraries: bool = True, **kwargs) -> str:
    """bertviz's model view (a thumbnail of every layer x head) of example ``index``, as HTML text."""
    from bertviz import model_view

    layers = _bertviz_inputs(attentions, tokens, index, decimals)
    html = model_view(layers, list(tokens), sentence_b_start=sentence_b_start, html_action="return", **kwargs).data
    html = _drop_params_copy(html)
    return with_inline_libraries(html) if inline_libraries else html


def save_html(html: str, path, title: str = "attention") -> Path:
    """Write a bertviz view as a standalone page; open it in any browser, no network needed (the views of
    ``head_view_html``/``model_view_html`` carry their JavaScript)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
            '<link rel="icon" href="data:,">\n'  # no icon: the browser does not ask the server for one
            f"<title>{html_escape(title)}</title>\n</head>\n<body>\n{html}\n</body>\n</html>\n")
    path.write_text(page, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------
# bertviz offline: the page carries its three libraries


# d3 and jQuery would register with require.js as anonymous modules, which require.js refuses for a script
# it did not load itself. So each runs with define/module/exports hidden, which makes it set a plain
# variable, and is then registered under the name bertviz asks for ("d3", "jquery"). A page that already
# has its own $ (classic Jupyter) gets it back from noConflict.
_AS_NAMED_MODULE = {
    "d3": """(function () {{
  var define, module, exports, scope = {{}};
  (function () {{
{source}
  }}).call(scope);  // d3 puts itself on `this`
  window.define("d3", [], function () {{ return scope.d3; }});
}})();""",
    "jquery": """(function () {{
  var define, exports, module = {{exports: {{}}}};
{source}
  var jquery = module.exports.noConflict(true);
  window.define("jquery", [], function () {{ return jquery; }});
}})();""",
}


def library_scripts() -> str:
    """``<script>`` elements holding require.js, d3 and jQuery (our pinned copies), in that order."""
    from bert_edu.data import assets

    scripts = []
    for name, (asset, filename) in BERTVIZ_LIBRARIES.items():
        source = (assets.get(asset) / filename).read_text(encoding="utf-8")
        if name in _AS_NAMED_MODULE:
            source = _AS_NAMED_MODULE[name].format(source=source)
        source = re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE)  # would end the element early
        scripts.append(f'<script data-bert-edu-library="{name}">\n{source}\n</script>\n')
    return "".join(scripts)


def with_inline_libraries(html: str) -> str:
    """bertviz's page with the CDN's require.js replaced by our three libraries inline: it draws with no
    network. (bertviz's require.config still names the CDN for d3 and jQuery, but require.js only fetches
    a module it does not have.)"""
    tag = f'<script src="{BERTVIZ_SCRIPTS["require.js"]}"></script>'
    if tag not in html:
        raise ValueError(f"bertviz no longer loads {BERTVIZ_SCRIPTS['require.js']}: update "
                         "bert_edu.course.viz.BERTVIZ_SCRIPTS and BERTVIZ_LIBRARIES")
    return html.replace(tag, library_scripts(), 1)


_LIBRARY_ELEMENT = re.compile(r'(<script data-bert-edu-library="([^"]+)">).*?(</script>)', re.DOTALL)


def strip_libraries(html: str) -> str:
    """The inlined libraries replaced by a one-line note, for notebooks we commit: they must not hold
    third-party code, and a saved notebook's outputs run no scripts anyway until it is trusted and re-run."""
    return _LIBRARY_ELEMENT.sub(lambda m: f"{m[1]}/* {m[2]}: inlined when the cell runs */{m[3]}", html)


def strip_libraries_from_notebook(nb: dict) -> int:
    """:func:`strip_libraries` on every HTML output of a notebook (a dict as in nbformat's JSON), in place.
    Returns how many outputs changed."""
    changed = 0
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html is None:
                continue
            text = "".join(html) if isinstance(html, list) else html
            stripped = strip_libraries(text)
            if stripped != text:
                output["data"]["text/html"] = stripped.splitlines(keepends=True) if isinstance(html, list) \
                    else stripped
                changed += 1
    return changed
