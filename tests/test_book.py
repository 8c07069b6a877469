"""`bert-edu book`: the executed course as a static site that opens from disk with nothing from the network.

Built once from the committed notebooks (nothing is executed); the checks read the files. The real-browser
checks of the same site (maths typeset, bertviz drawn, search) are in tests/test_browser_book.py."""

import html
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from bert_edu.course import book, hosted

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def site(book_site):
    return book_site  # built once per run (tests/conftest.py)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.imgs, self.scripts = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append((tag, key, a[key]))
        if tag == "img":
            self.imgs.append(a)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_the_site_has_every_notebook_and_fits_the_targets(site):
    out, summary = site
    assert summary["wall"] < 120, f"the book took {summary['wall']:.0f} s (target: under 2 minutes)"
    for nb in NOTEBOOKS:
        assert (out / f"{nb.stem}.html").is_file() and (out / "notebooks" / nb.name).is_file()
    assert (out / "index.html").is_file() and (out / "glossary.html").is_file()
    assert max(summary["pages"].values()) < book.PAGE_LIMIT
    assert summary["zip_bytes"] < book.ZIP_LIMIT
    # every image is a file, written once: no page inlines one as data
    for page in out.glob("*.html"):
        assert "data:image/png;base64" not in page.read_text(encoding="utf-8"), page.name


def test_every_link_resolves_and_nothing_comes_from_the_network(site):
    out, _ = site
    parsed = {p.relative_to(out).as_posix(): _parse(p) for p in [*out.glob("*.html"), *out.glob("zh/*.html")]}
    assert any(name.startswith("zh/") for name in parsed), "no Chinese site in zh/"
    for name, page in parsed.items():
        here = (out / name).parent
        for tag, key, target in page.links:
            url = urlparse(target)
            if url.scheme in ("http", "https"):
                assert tag == "a" and key == "href", f"{name}: <{tag} {key}={target}> loads from the network"
                continue
            assert url.scheme in ("", "data"), f"{name}: {target}"
            if url.scheme == "data":
                continue
            path = (here / unquote(url.path)).resolve() if url.path else (out / name).resolve()
            assert path.is_file(), f"{name}: {target} does not exist in the site"
            assert out.resolve() in path.parents, f"{name}: {target} points outside the site"
            if url.fragment and path.suffix == ".html":
                ids = parsed[path.relative_to(out.resolve()).as_posix()].ids  # tried as written, then decoded
                assert url.fragment in ids or unquote(url.fragment) in ids, f"{name}: no #{url.fragment} in {path.name}"
        for src in page.scripts:
            assert not src.startswith(("http:", "https:", "//")), f"{name} loads a script from {src}"
    # MathJax is the pinned asset's copy
    assert (out / "_static" / "mathjax" / "MathJax.js").is_file()


def test_every_page_has_its_navigation_alt_text_and_links(site):
    out, _ = site
    titles = []
    for i, nb in enumerate(NOTEBOOKS):
        page = (out / f"{nb.stem}.html").read_text(encoding="utf-8")
        parsed = _parse(out / f"{nb.stem}.html")
        for img in parsed.imgs:
            assert img.get("alt", "").strip(), f"{nb.stem}: an image without alt text: {img}"
        assert f'href="notebooks/{nb.name}"' in page and "download" in page
        assert hosted.colab_url(nb.name) in page and hosted.kaggle_url(nb.name).replace("&", "&amp;") in page
        assert 'rel="next"' in page and 'rel="prev"' in page and 'aria-label="Contents"' in page
        if i + 1 < len(NOTEBOOKS):
            nexts = re.findall(r'<a [^>]*rel="next"[^>]*>', page)
            assert nexts and all(f'href="{NOTEBOOKS[i + 1].stem}.html"' in a for a in nexts)
        assert 'id="search-box"' in page and "_static/search-index.js" in page
        titles.append(book.title_of(nbformat.read(nb, as_version=4), nb.stem))
    index = (out / "index.html").read_text(encoding="utf-8")
    for nb, title in zip(NOTEBOOKS, titles):  # the course map: every notebook with its objectives and time
        head = book.header_table(nbformat.read(nb, as_version=4))
        assert set(head) == {"You will learn", "You will write", "Time"}, nb.name
        assert f'href="{nb.stem}.html"' in index and re.sub(r"\s+", " ", head["Time"][:12]) in index


def test_glossary_terms_link_to_their_entry(site):
    out, _ = site
    glossary_ids = _parse(out / "glossary.html").ids
    linked = 0
    for page in out.glob("[0-9][0-9]_*.html"):
        for target in re.findall(r'href="glossary\.html#([^"]+)"', page.read_text(encoding="utf-8")):
            assert target in glossary_ids, f"{page.name} links to a glossary term that is not there: #{target}"
            linked += 1
    assert linked >= len(NOTEBOOKS)
    assert "../docs/glossary.md" not in "".join(p.read_text(encoding="utf-8") for p in out.glob("*.html"))


def test_notebook_06_views_carry_the_site_libraries(site):
    out, _ = site
    page = (out / "06_attention_maps.html").read_text(encoding="utf-8")
    for name in ("require", "d3", "jquery"):
        assert f'src="_static/bertviz-{name}.js"' in page and (out / "_static" / f"bertviz-{name}.js").is_file()
    assert "inlined when the cell runs" not in page


def test_the_search_index_holds_every_page(site):
    out, _ = site
    index = (out / "_static" / "search-index.js").read_text(encoding="utf-8")
    assert all(f'"p":"{nb.stem}.html"' in index for nb in NOTEBOOKS) and "WordPiece" in index


ZH_NOTEBOOKS = [ROOT / "notebooks" / "zh" / nb.name for nb in NOTEBOOKS]


def test_the_chinese_site_has_every_page_in_chinese_and_a_switch_on_every_page(site):
    """The Chinese edition as a second site in zh/: every notebook, its index (the course map) and the Chinese
    glossary, in Chinese (lang, navigation, search), and each page linked to the same page in the other language."""
    out, summary = site
    assert summary["languages"] == ["en", "zh"]
    zh = out / "zh"
    for nb, zh_nb in zip(NOTEBOOKS, ZH_NOTEBOOKS):
        page = (zh / f"{nb.stem}.html").read_text(encoding="utf-8")
        assert '<html lang="zh-CN">' in page and "跳到正文" in page and "上一页和下一页" in page, nb.stem
        assert f'href="../{nb.stem}.html" hreflang="en"' in page, f"zh/{nb.stem}: no link to the English page"
        english = (out / f"{nb.stem}.html").read_text(encoding="utf-8")
        assert f'href="zh/{nb.stem}.html" hreflang="zh-CN"' in english, f"{nb.stem}: no link to the Chinese page"
        assert book.title_of(nbformat.read(zh_nb, as_version=4), "") in page
        assert (zh / "notebooks" / nb.name).is_file() and f'href="notebooks/{nb.name}"' in page
        assert "../_static/search-index-zh.js" in page and "../_static/book.css" in page
        for img in _parse(zh / f"{nb.stem}.html").imgs:
            assert img.get("alt", "").strip(), f"zh/{nb.stem}: an image without alt text: {img}"
    index = (zh / "index.html").read_text(encoding="utf-8")
    assert "课程地图" in index and all(f'href="{nb.stem}.html"' in index for nb in NOTEBOOKS)
    assert "中文术语对照" in html.unescape((zh / "glossary.html").read_text(encoding="utf-8"))
    search = (out / "_static" / "search-index-zh.js").read_text(encoding="utf-8")
    assert all(f'"p":"{nb.stem}.html"' in search for nb in NOTEBOOKS) and "注意力" in search
    chinese_links = re.findall(r'href="glossary\.html', "".join(p.read_text(encoding="utf-8") for p in zh.glob("[0-9]*.html")))
    assert len(chinese_links) >= len(NOTEBOOKS), "the Chinese pages do not link their terms to the Chinese glossary"


def test_the_zip_is_the_site(site):
    out, summary = site
    with zipfile.ZipFile(summary["zip"]) as zf:
        names = set(zf.namelist())
    files = {f"book/{p.relative_to(out).as_posix()}" for p in out.rglob("*") if p.is_file() and p.name != book.MARKER}
    assert names == files


def test_it_refuses_to_overwrite_what_it_did_not_build(tmp_path):
    (tmp_path / "notes.txt").write_text("a learner's notes")
    proc = subprocess.run([sys.executable, "-m", "bert_edu", "book", "--out", str(tmp_path), "--no-zip"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not empty" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "a learner's notes"


def test_without_a_clone_it_says_so(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bert_edu", "book", "--out", str(tmp_path / "b"),
                           "--notebooks", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "clone of the repository" in proc.stderr
