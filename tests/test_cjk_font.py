"""Chinese characters in matplotlib figures (notebook 13): the `cjk_font` asset (Noto Sans CJK from PyPI, pinned)
and `viz.use_cjk_font()`, which must turn empty boxes ("tofu") into glyphs without breaking English labels."""

import warnings

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bert_edu.course import viz
from bert_edu.data import assets

TEXT = "这家酒店"  # notebook 13's sentence starts "这家酒店的服务很好"


@pytest.fixture
def cjk_rc():
    """use_cjk_font() inside an rc_context, so the other tests of the session keep matplotlib's defaults."""
    with mpl.rc_context():
        family = viz.use_cjk_font()
        yield family


def _draw(text: str, fontsize: float = 28) -> tuple[np.ndarray, list[str]]:
    """Draw ``text`` alone on an Agg canvas: its pixels, and what matplotlib warned while drawing it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = Figure(figsize=(0.6 * max(len(text), 1), 0.8), dpi=100)
        canvas = FigureCanvasAgg(fig)
        fig.text(0.5, 0.5, text, fontsize=fontsize, ha="center", va="center")
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return pixels, [str(w.message) for w in caught]


def _missing(said: list[str]) -> list[str]:
    return [m for m in said if "missing from font" in m]


def test_the_asset_is_pinned_and_fetched_with_the_default_download():
    a = assets.ASSETS["cjk_font"]
    assert (a.package, a.version) == ("noto-cjk-sans-otc", "0.0.1") and len(a.wheel_sha256) == 64
    assert not a.on_request  # notebook 13 and this test need it: `make setup` / `bert-edu test` fetch it
    assert {fname for fname, _ in a.members.values()} == {"NotoSansCJK-Regular.ttc", "LICENSE-OFL.txt"}
    path = viz.cjk_font()
    assert path == assets.cjk_font_path() and path.is_file() and assets.problems("cjk_font") == []
    licence = (path.parent / "LICENSE-OFL.txt").read_text(encoding="utf-8")
    assert "SIL Open Font License" in licence and "Version 1.1" in licence


def test_without_the_font_chinese_draws_as_identical_boxes():
    """The fault this fixes, shown with matplotlib's own DejaVu Sans: every character is the same empty box."""
    with mpl.rc_context({"font.family": ["sans-serif"], "font.sans-serif": ["DejaVu Sans"]}):
        boxes = [_draw(ch) for ch in TEXT]
    assert all(_missing(said) for _, said in boxes)
    assert all(np.array_equal(boxes[0][0], pixels) for pixels, _ in boxes[1:])


def test_with_the_font_each_character_draws_its_own_glyph(cjk_rc):
    assert cjk_rc == viz.CJK_FAMILY == mpl.rcParams["font.sans-serif"][0]
    drawn = {}
    for ch in TEXT:
        pixels, said = _draw(ch)
        assert not _missing(said), said
        assert (pixels < 128).any(), f"{ch} drew nothing"
        drawn[ch] = pixels
    chars = list(TEXT)
    for i, a in enumerate(chars):
        for b in chars[i + 1:]:
            assert not np.array_equal(drawn[a], drawn[b]), f"{a} and {b} drew the same pixels: tofu"


def test_chinese_tick_labels_and_english_titles_draw_without_missing_glyphs(cjk_rc):
    """Notebook 13's figure in small: an attention map with one Chinese character per tick, an English title and
    negative numbers on the colour bar (the minus sign is a glyph of its own)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = Figure(figsize=(4, 4), dpi=80)
        canvas = FigureCanvasAgg(fig)
        ax = fig.subplots()
        labels = ["[CLS]", *TEXT, "[SEP]"]
        image = ax.imshow(np.linspace(-1, 1, len(labels) ** 2).reshape(len(labels), -1))
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title("layer 4, head 1: attention")
        fig.colorbar(image)
        canvas.draw()
    assert not _missing([str(w.message) for w in caught])


def test_english_still_draws(cjk_rc):
    pixels, said = _draw("attention −0.5")
    assert not _missing(said) and (pixels < 128).any()
    assert not np.array_equal(_draw("head")[0], _draw("layer")[0])


def test_use_cjk_font_registers_the_font_once(cjk_rc):
    from matplotlib import font_manager

    path = viz.cjk_font()
    before = sum(1 for e in font_manager.fontManager.ttflist if e.fname == str(path))
    assert before >= 1
    with mpl.rc_context():
        assert viz.use_cjk_font() == cjk_rc
        assert mpl.rcParams["font.sans-serif"].count(cjk_rc) == 1
    assert sum(1 for e in font_manager.fontManager.ttflist if e.fname == str(path)) == before


def test_missing_font_offline_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BERT_EDU_OFFLINE", "1")
    with pytest.raises(assets.AssetError, match="python -m bert_edu.assets download"):
        viz.use_cjk_font()
