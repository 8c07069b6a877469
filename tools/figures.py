"""The course's diagrams, drawn with matplotlib into notebooks/figures/*.png (committed; regenerate with
``python tools/figures.py [OUT_DIR]``). A maintainer's tool: no installed command needs it, so it lives outside
the package. Used by the notebooks' markdown:

* input_representation.png   token + segment + position embeddings         (notebooks 00, 01, 02)
* encoder_layer.png          one post-LN encoder layer                      (notebooks 04, 05)
* multi_head_attention.png   Q, K, V, split into heads, softmax, concat, W_O (notebook 03, 06)
* mlm_nsp.png                the two pretraining tasks                      (notebooks 00, 07)
* finetuning_setups.png      sentence, pair, token and span tasks           (notebooks 00, 08, 09)
* attention_directions.png   causal (left-to-right) vs bidirectional masks  (notebooks 00, 03)

Every drawing is plain boxes, arrows and text, so the pictures are ours (no third-party artwork).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

FIGURES_DIR = Path(__file__).resolve().parents[1] / "notebooks" / "figures"
COLOURS = {"token": "#fde3a7", "segment": "#c8e6c9", "position": "#bbdefb", "model": "#e1bee7",
           "head": "#ffccbc", "norm": "#d7ccc8", "plain": "#eeeeee", "mask": "#90a4ae"}


def box(ax, x, y, w, h, text, colour="plain", size=10, **kw):
    """A rounded box centred on (x, y) with its label."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=COLOURS.get(colour, colour), edgecolor="#444444", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, **kw)


def arrow(ax, start, end, colour="#444444", style="-|>", **kw):
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle=style, color=colour, lw=1.2, **kw))


def canvas(width, height, figsize):
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def input_representation():
    """BERT's input: the sum of a token, a segment and a position embedding for every position."""
    tokens = ["[CLS]", "my", "dog", "is", "cute", "[SEP]", "he", "likes", "play", "##ing", "[SEP]"]
    segments = ["A"] * 6 + ["B"] * 5
    fig, ax = canvas(len(tokens) + 2.2, 5.2, (11, 4.2))
    ax.text(0.1, 4.6, "input", fontsize=10, va="center", weight="bold")
    rows = [(3.5, "token\nembeddings", "token", lambda i: f"E$_{{{tokens[i].replace('#', '')}}}$"),
            (2.3, "segment\nembeddings", "segment", lambda i: f"E$_{segments[i]}$"),
            (1.1, "position\nembeddings", "position", lambda i: f"E$_{{{i}}}$")]
    for i, token in enumerate(tokens):
        x = i + 2
        ax.text(x, 4.6, token, ha="center", va="center", fontsize=10, family="monospace")
        for r, (y, _, colour, label) in enumerate(rows):
            box(ax, x, y, 0.86, 0.7, label(i).replace("E$_{##ing}$", "E$_{\\#\\#ing}$"), colour, size=9)
            if r < len(rows) - 1:
                ax.text(x, y - 0.6, "+", ha="center", va="center", fontsize=12)
    for y, name, _, _ in rows:
        ax.text(0.1, y, name, fontsize=9, va="center")
    ax.text(0.1, 0.2, "sum, then LayerNorm and dropout: one vector of hidden_size per position",
            fontsize=9, style="italic")
    ax.set_title("The input representation: token + segment + position", fontsize=12)
    return fig


def encoder_layer():
    """One post-LN encoder layer: attention, add & norm, feed-forward, add & norm."""
    fig, ax = canvas(10, 9.6, (6.2, 6.4))
    x = 4.2
    parts = [(0.6, "x  (T × hidden)", "plain"), (2.2, "multi-head self-attention\n(BertSelfAttention + W_O)", "head"),
             (3.8, "add & LayerNorm", "norm"), (5.4, "feed-forward: Linear → GELU → Linear\n(hidden → 4·hidden → hidden)",
                                                "model"),
             (7.0, "add & LayerNorm", "norm"), (8.6, "output  (T × hidden)", "plain")]
    for (y0, _, _), (y1, _, _) in zip(parts, parts[1:]):
        arrow(ax, (x, y0 + 0.4), (x, y1 - 0.45))
    for y, text, colour in parts:
        box(ax, x, y, 5.6 if colour != "plain" else 3.2, 0.8, text, colour, size=9)
    for y_from, y_to in [(1.3, 3.8), (4.5, 7.0)]:  # residual: the sub-layer's input goes around it to the norm
        ax.plot([x, x + 3.4, x + 3.4], [y_from, y_from, y_to], color="C0", lw=1.4)
        arrow(ax, (x + 3.4, y_to), (x + 2.85, y_to), colour="C0")
        ax.text(x + 3.55, (y_from + y_to) / 2, "residual", color="C0", fontsize=9, rotation=90, va="center")
    ax.text(0.2, 9.3, "× num_hidden_layers (6 in MiniLM, 12 in BERT-base)", fontsize=9, style="italic")
    ax.set_title("One encoder layer (post-LN, as in BERT)", fontsize=12)
    return fig


def multi_head_attention():
    """Q, K, V projections, split into heads, scaled dot-product attention per head, concatenate, W_O."""
    fig, ax = canvas(12, 7, (10, 5.2))
    box(ax, 1.0, 3.5, 1.4, 1.0, "x\n(T × d)", "plain")
    box(ax, 5.0, 3.7, 0.6, 5.2, "split into h heads", "norm", size=8, rotation=90)  # x 4.7-5.3, y 1.1-6.3
    for y, name in [(5.4, "Q = x W_Q"), (3.5, "K = x W_K"), (1.6, "V = x W_V")]:
        arrow(ax, (1.7, 3.5), (2.5, y))
        box(ax, 3.4, y, 1.8, 0.8, name, "token", size=9)
        arrow(ax, (4.3, y), (4.7, y))
    heads = [(5.7, "head 1"), (4.3, "head 2"), (1.9, "head h")]
    ax.text(7.0, 3.15, "⋮", fontsize=16, ha="center", va="center")
    for y, name in heads:
        arrow(ax, (5.3, y), (5.6, y))  # each head gets its slice of Q, K and V
        box(ax, 7.0, y, 2.8, 1.0, f"{name}: Q$_i$, K$_i$, V$_i$\nsoftmax(Q$_i$K$_i^T$ / √d$_k$ + mask) V$_i$", "head",
            size=8)
        arrow(ax, (8.4, y), (8.85, 3.5))
    ax.text(4.7, 0.55, "d = h × d$_k$: the split is a reshape, no new weights", fontsize=8, ha="left")
    box(ax, 9.5, 3.5, 1.3, 1.0, "concat\n(T × d)", "plain", size=9)
    arrow(ax, (10.15, 3.5), (10.6, 3.5))
    box(ax, 11.3, 3.5, 1.1, 1.0, "· W_O", "model", size=9)
    ax.set_title("Multi-head self-attention: every token reads every other token, h ways at once", fontsize=11)
    return fig


def mlm_nsp():
    """The two pretraining tasks on one input: masked words (MLM) and is-B-the-next-sentence (NSP)."""
    tokens = ["[CLS]", "the", "man", "went", "to", "[MASK]", "store", "[SEP]", "he", "bought", "a", "[MASK]",
              "of", "milk", "[SEP]"]
    answers = {5: "the", 11: "gallon"}
    fig, ax = canvas(len(tokens) + 1, 6, (12, 4.4))
    for i, token in enumerate(tokens):
        x = i + 1
        masked = token == "[MASK]"
        box(ax, x, 0.8, 0.9, 0.6, token, "mask" if masked else ("segment" if i > 7 else "token"), size=8)
        arrow(ax, (x, 1.15), (x, 1.75))
    box(ax, (len(tokens) + 1) / 2, 2.5, len(tokens) - 0.2, 1.2,
        "BERT encoder: every position reads the whole input, left and right", "model", size=10)
    for i, answer in answers.items():
        x = i + 1
        arrow(ax, (x, 3.15), (x, 3.9))
        box(ax, x, 4.3, 2.1, 0.7, f"MLM head → '{answer}'", "head", size=8)
    arrow(ax, (1, 3.15), (1, 3.9))
    box(ax, 1.3, 4.3, 2.1, 0.7, "NSP head → IsNext", "head", size=8)
    ax.text(0.5, 5.5, "MLM: predict the hidden words (15% of tokens are chosen; loss only there).   "
            "NSP: is segment B the sentence that followed A?", fontsize=9)
    ax.set_title("Pretraining: masked language model + next sentence prediction", fontsize=12)
    return fig


def _setup(ax, x0, title, tokens, outputs, colours):
    """One fine-tuning set-up: the tokens at the bottom, the encoder, and what is read off the top."""
    ax.text(x0 + len(tokens) / 2, 5.3, title, ha="center", fontsize=10, weight="bold")
    for i, (token, colour) in enumerate(zip(tokens, colours)):
        box(ax, x0 + i + 0.5, 0.6, 0.9, 0.55, token, colour, size=7)
    box(ax, x0 + len(tokens) / 2, 2.1, len(tokens) - 0.1, 1.0, "BERT", "model", size=10)
    for i, label in outputs:
        arrow(ax, (x0 + i + 0.5, 2.65), (x0 + i + 0.5, 3.5))
        box(ax, x0 + i + 0.5, 3.9, 0.95, 0.6, label, "head", size=7)


def finetuning_setups():
    """Sentence classification, sentence-pair classification, token tagging, span extraction."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 6.4))
    for ax in axes.flat:
        ax.set_xlim(0, 8)
        ax.set_ylim(0, 5.8)
        ax.axis("off")
    t, s = "token", "segment"
    _setup(axes[0, 0], 0.5, "(a) one sentence → a class (sentiment)",
           ["[CLS]", "a", "witty", "film", "[SEP]"], [(0, "positive")], [t] * 5)
    _setup(axes[0, 1], 0, "(b) a pair → a class (entailment, NSP)",
           ["[CLS]", "A", "A", "[SEP]", "B", "B", "[SEP]"], [(0, "entails")], [t] * 4 + [s] * 3)
    _setup(axes[1, 0], 0, "(c) a label per token (named entities)",
           ["[CLS]", "Jacob", "Devlin", "at", "Google", "[SEP]"],
           [(1, "B-PER"), (2, "I-PER"), (3, "O"), (4, "B-ORG")], [t] * 6)
    _setup(axes[1, 1], 0, "(d) a span of the passage (question answering)",
           ["[CLS]", "who", "?", "[SEP]", "Jacob", "Devlin", "said", "[SEP]"],
           [(4, "start"), (5, "end")], [t] * 4 + [s] * 4)
    fig.suptitle("Fine-tuning: one small head on the pretrained encoder, four kinds of task", fontsize=12)
    fig.tight_layout()
    return fig


def attention_directions():
    """Which keys each query may read: a causal (left-to-right) mask vs BERT's bidirectional one."""
    tokens = ["the", "bank", "of", "the", "river"]
    n = len(tokens)
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.6))
    for ax, (title, allowed) in zip(axes, [("left-to-right (GPT): causal", lambda i, j: j <= i),
                                           ("bidirectional (BERT)", lambda i, j: True)]):
        grid = [[1.0 if allowed(i, j) else 0.0 for j in range(n)] for i in range(n)]
        ax.imshow(grid, cmap="Blues", vmin=-0.3, vmax=1.2)
        ax.set_xticks(range(n), tokens, rotation=45)
        ax.set_yticks(range(n), tokens)
        ax.set_xlabel("key: the token read")
        ax.set_title(title, fontsize=10)
        ax.add_patch(plt.Rectangle((-0.5, 0.5), n, 1, fill=False, edgecolor="C3", lw=2))
    axes[0].set_ylabel("query: the token reading")
    fig.suptitle("Who may read whom: 'bank' (row 2) sees 'river' only with bidirectional attention", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = {"input_representation": input_representation, "encoder_layer": encoder_layer,
           "multi_head_attention": multi_head_attention, "mlm_nsp": mlm_nsp,
           "finetuning_setups": finetuning_setups, "attention_directions": attention_directions}


def draw_all(out_dir: Path = FIGURES_DIR, dpi: int = 90) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        fig = draw()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})  # no version: stable bytes
        plt.close(fig)
        written.append(path)
    return written


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for path in draw_all(Path(argv[0]) if argv else FIGURES_DIR):
        print(f"{path.name}: {path.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
