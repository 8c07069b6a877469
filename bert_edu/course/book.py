"""The course as a book: a static site of the executed notebooks that opens from disk, offline.

    bert-edu book --out book            # or: make book; python -m bert_edu.course.book --out book

writes ``book/`` (``index.html`` with the course map, one page per notebook, ``glossary.html``) and
``book.zip`` beside it. Nothing is executed: each page shows the outputs saved in the committed notebook.

* **Toolchain**: nbconvert (already installed with Jupyter) with a small template
  (``book_static/templates/book``, on nbconvert's ``lab`` template), this module and our own CSS and JavaScript
  (``book_static/``). Nothing is fetched while building or reading: MathJax comes from the pinned ``mathjax``
  asset (:mod:`bert_edu.data.assets`) and is copied into the site; JupyterLab's stylesheet from the installed
  nbconvert; bertviz's views in notebook 06 already carry their JavaScript (:mod:`bert_edu.course.viz`).
* **Each page**: the notebook with its outputs, images written once as files under ``_images/`` (never inlined
  twice), a description (alt text) on every image, previous / next / contents links, offline full-text search
  (an index written into ``_static/search-index.js``, so it works from ``file://`` where a page cannot fetch
  a JSON file), a copy button on each code cell, a link to download the notebook, "Open in Colab" / "Open in
  Kaggle" links (:mod:`bert_edu.course.hosted`), and terms linked to the glossary at their first use (the
  notebooks' own links, pointed at ``glossary.html``).
* **Two languages**: the Chinese edition (``notebooks/zh/``, built by ``bert-edu translate build``) becomes a
  second site in ``zh/`` beside the English one, sharing its ``_static/`` and ``figures/``: the same pages with the
  Chinese text, the Chinese glossary (``docs/glossary.zh-CN.md``), its own search index, and on every page a link to
  the same page in the other language.
* **Keyboard**: a skip link, visible focus, ``/`` focuses the search box, arrow keys move through the
  results, ``Alt+←`` / ``Alt+→`` go to the previous / next page.

The notebooks are read from the clone (``notebooks/``): the book needs a clone of the repository (or
``--notebooks DIR``); the wheel does not carry the notebooks.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(__file__).resolve().parent / "book_static"
MARKER = ".bert-edu-book"  # a folder holding this file is a book we built: a rebuild may replace it
PAGE_LIMIT = 5 * 10**6  # bytes: the heaviest page we accept
ZIP_LIMIT = 50 * 10**6


class BookError(RuntimeError):
    """Bad input to the book build; the message names the problem and the fix."""


@dataclass
class Page:
    path: Path  # the notebook
    stem: str
    title: str
    learn: str = ""
    write: str = ""
    time: str = ""
    sections: list = field(default_factory=list)  # (anchor, heading, text) for the search index

    @property
    def html_name(self) -> str:
        return f"{self.stem}.html"


# Every word of the site around the notebooks, per language (the notebooks bring their own).
UI = {
    "en": dict(code="en", skip="Skip to the content", search_label="Search the course",
               placeholder="Search (press /)",
               search_help="Type a word; use the up and down arrow keys to move through the results.",
               contents="Contents", glossary="Glossary", prevnext="Previous and next",
               download="Download this notebook ({name})", colab="Open in Colab", kaggle="Open in Kaggle",
               site_title="bert-edu: the course", other="中文", other_code="zh-CN", other_label="阅读中文版",
               figure="Figure {nth} {where}, drawn by the code cell above{what}", in_section="in section “{heading}”",
               at_top="at the top of the notebook", learn="You will learn", write="You will write", time="Time"),
    "zh": dict(code="zh-CN", skip="跳到正文", search_label="搜索课程", placeholder="搜索（按 /）",
               search_help="输入一个词；用上下方向键在结果之间移动。",
               contents="目录", glossary="术语表", prevnext="上一页和下一页",
               download="下载这个笔记本（{name}）", colab="在 Colab 中打开", kaggle="在 Kaggle 中打开",
               site_title="bert-edu：课程", other="English", other_code="en", other_label="Read this page in English",
               figure="图 {nth}，{where}，由上面的代码单元格绘制{what}", in_section="位于“{heading}”一节",
               at_top="位于笔记本开头", learn="你将学到", write="你将编写", time="用时"),
}
# the header rows of a Chinese notebook, read under the English keys
_ZH_KEYS = {"你将学到": "You will learn", "你将编写": "You will write", "用时": "Time"}


def default_notebooks() -> Path:
    return ROOT / "notebooks"


def find_notebooks(folder: Path | None) -> list[Path]:
    folder = Path(folder) if folder else default_notebooks()
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise BookError(f"no course notebooks (NN_name.ipynb) in {folder}: the book is built from a clone of the "
                        "repository (git clone, then run this in it), or pass --notebooks DIR")
    return paths


# ----------------------------------------------------------------------------------------------
# reading a notebook


_HEADER_ROW = re.compile(r"^\|\s*\*\*(You will learn|You will write|Time|你将学到|你将编写|用时)\*\*\s*\|(.*)\|\s*$",
                         re.MULTILINE)


_HEADER_PARAGRAPH = re.compile(r"^\*\*(What you will learn|What you will write|Time|你将学到|你将编写|用时)(?:\.|。|：)?\*\*"
                               r"(?:：)?\s*(.*?)(?=\n\*\*|\n\n|\Z)",
                               re.MULTILINE | re.DOTALL)


def header_table(nb) -> dict[str, str]:
    """The rows of the notebook's header table: {"You will learn": ..., "You will write": ..., "Time": ...}."""
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    source = first.source if first else ""
    rows = {_ZH_KEYS.get(m.group(1), m.group(1)): m.group(2).strip() for m in _HEADER_ROW.finditer(source)}
    # the same three as paragraphs: "**What you will learn.** ...", "**Time.** ..." (notebook 07)
    for m in _HEADER_PARAGRAPH.finditer(source):
        key = _ZH_KEYS.get(m.group(1), m.group(1).replace("What you", "You"))
        rows.setdefault(key, " ".join(m.group(2).split()))
    return rows


def title_of(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if m:
                return m.group(1).replace("`", "").strip()
    return fallback


def rewrite_links(markdown: str, stems: set[str], repository: str, base: str = "notebooks") -> str:
    """Point the notebooks' links at the book: the glossary, other notebooks, and other files of the
    repository (the README, CONTRIBUTING, code) at the release on the code host. ``base`` is the notebooks'
    folder in the repository (``notebooks/zh`` for the Chinese edition)."""
    import posixpath

    def fix(m):
        text, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+:|^#", target) or target.startswith(("figures/", "../figures/")):
            return m.group(0)
        path, _, anchor = target.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        name = Path(path).name
        if name in ("glossary.md", "glossary.zh-CN.md"):
            return f"[{text}](glossary.html{anchor})"
        if name.endswith(".ipynb") and Path(name).stem in stems:
            return f"[{text}]({Path(name).stem}.html{anchor})"
        clean = posixpath.normpath(f"{base}/{path}")
        return f"[{text}]({repository}/{clean}{anchor})"

    return re.sub(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)", fix, markdown)


_TITLE_CALL = re.compile(r"""(?:set_title|suptitle|title|set_xlabel|set_ylabel)\s*\(\s*f?(["'])(.+?)\1""")


def alt_text(source: str, heading: str, nth: int, lang: str = "en") -> str:
    """A description for a figure a code cell drew: its titles and axis labels when the code names them,
    and always the section it belongs to."""
    ui = UI[lang]
    said = [s for _, s in _TITLE_CALL.findall(source) if "{" not in s]
    where = ui["in_section"].format(heading=heading) if heading else ui["at_top"]
    what = (": " if lang == "en" else "：") + "; ".join(dict.fromkeys(said)) if said else ""
    return ui["figure"].format(nth=nth, where=where, what=what)


def _plain(html_text: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.DOTALL)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text)).replace("¶", " ")
    return re.sub(r"\s+", " ", text).strip()


# the place-holders bert_edu.course.notebooks leaves where bertviz's views carried their libraries
_STRIPPED_LIBRARY = re.compile(r'<script data-bert-edu-library="([^"]+)">/\*[^*]*\*/</script>')


def with_bertviz_libraries(html_text: str, static: str = "_static/") -> str:
    """A bertviz view of a committed notebook loads the libraries it carried when it ran (require.js, d3,
    jQuery: taken out of committed notebooks, see viz.strip_libraries) from the site's own copies."""
    return _STRIPPED_LIBRARY.sub(lambda m: f'<script data-bert-edu-library="{m[1]}" '
                                           f'src="{static}bertviz-{m[1].removesuffix(".js")}.js"></script>', html_text)


def write_bertviz_libraries(folder: Path) -> None:
    """The three libraries as viz.library_scripts makes them (our pinned copies), one file each."""
    from bert_edu.course import viz

    for m in re.finditer(r'<script data-bert-edu-library="([^"]+)">\n(.*?)\n</script>', viz.library_scripts(),
                         re.DOTALL):
        (folder / f"bertviz-{m[1].removesuffix('.js')}.js").write_text(m[2], encoding="utf-8")


def prepare(page: Page, nb, stems: set[str], repository: str, lang: str = "en") -> None:
    """Rewrite links, describe images, and collect the page's sections for the search index (in place)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    heading, anchor, text, figures = page.title, "", [], 0
    sections = page.sections

    def close():
        if text:
            sections.append((anchor, heading, " ".join(text)))

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, stems, repository, "notebooks" if lang == "en" else "notebooks/zh")
            rendered = markdown2html_mistune(cell.source)
            parts = re.split(r'(<h[1-4] id="[^"]*">.*?</h[1-4]>)', rendered, flags=re.DOTALL)
            for part in parts:
                m = re.match(r'<h[1-4] id="([^"]*)">(.*?)</h[1-4]>', part, re.DOTALL)
                if m:
                    close()
                    anchor, heading, text = m.group(1), _plain(m.group(2)), []
                elif part.strip():
                    text.append(_plain(part))
        elif cell.cell_type == "code":
            text.append(cell.source)
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "text/html" in data:
                    data["text/html"] = with_bertviz_libraries(data["text/html"], _static_prefix(lang))
                if "image/png" in data or "image/jpeg" in data:
                    figures += 1
                    output.setdefault("metadata", {})["bert_edu_alt"] = alt_text(cell.source, heading, figures, lang)
    close()


# ----------------------------------------------------------------------------------------------
# the pieces around each page


def _static_prefix(lang: str) -> str:
    """Where a page of ``lang`` finds the shared _static/ folder (the Chinese site lives in zh/)."""
    return "_static/" if lang == "en" else "../_static/"


def _nav_links(pages: list[Page], i: int | None, lang: str = "en") -> tuple[str, str]:
    ui = UI[lang]
    prev_ = pages[i - 1] if i is not None and i > 0 else None
    next_ = pages[i + 1] if i is not None and i + 1 < len(pages) else (pages[0] if i is None else None)
    p = (f'<a rel="prev" href="{prev_.html_name}">← {html.escape(prev_.title)}</a>' if prev_
         else f'<a rel="prev" href="index.html">← {ui["contents"]}</a>' if i is not None else "<span></span>")
    n = (f'<a rel="next" href="{next_.html_name}">{html.escape(next_.title)} →</a>' if next_
         else f'<a rel="next" href="glossary.html">{ui["glossary"]} →</a>')
    return p, n


def language_switch(lang: str, page: str, other_exists: bool) -> str:
    """The link to the same page in the other language (English in /, Chinese in zh/)."""
    if not other_exists:
        return ""
    ui = UI[lang]
    href = f"zh/{page}" if lang == "en" else f"../{page}"
    return (f'<a class="book-lang" href="{href}" hreflang="{ui["other_code"]}" lang="{ui["other_code"]}" '
            f'aria-label="{html.escape(ui["other_label"])}">{ui["other"]}</a>')


def header(title: str, lang: str = "en", switch: str = "") -> str:
    ui = UI[lang]
    return f"""<header class="book-header">
<a class="book-home" href="index.html">bert-edu</a>
<span class="book-title">{html.escape(title)}</span>
{switch}
<form class="book-search" role="search" onsubmit="return false">
<label for="search-box" class="visually-hidden">{ui["search_label"]}</label>
<input id="search-box" type="search" placeholder="{ui["placeholder"]}" autocomplete="off"
 aria-controls="search-results" aria-describedby="search-help">
<span id="search-help" class="visually-hidden">{ui["search_help"]}</span>
<ol id="search-results" class="search-results" aria-live="polite"></ol>
</form>
</header>"""


def sidebar(pages: list[Page], current: str, lang: str = "en") -> str:
    ui = UI[lang]
    items = ['<li><a href="index.html"' + (' aria-current="page"' if current == "index.html" else "")
             + f">{ui['contents']}</a></li>"]
    for page in pages:
        mark = ' aria-current="page"' if page.html_name == current else ""
        items.append(f'<li><a href="{page.html_name}"{mark}>{html.escape(page.title)}</a></li>')
    mark = ' aria-current="page"' if current == "glossary.html" else ""
    items.append(f'<li><a href="glossary.html"{mark}>{ui["glossary"]}</a></li>')
    return f'<nav class="book-sidebar" aria-label="{ui["contents"]}"><ol>{"".join(items)}</ol></nav>'


def page_top(pages: list[Page], i: int | None, extra: str = "", lang: str = "en") -> str:
    p, n = _nav_links(pages, i, lang)
    return f'<nav class="book-prevnext" aria-label="{UI[lang]["prevnext"]}">{p}{n}</nav>{extra}'


def notebook_links(page: Page, lang: str = "en") -> str:
    from bert_edu.course import hosted

    ui = UI[lang]
    name = page.path.name
    hosted_name = name if lang == "en" else f"zh/{name}"
    return (f'<p class="book-links"><a download href="notebooks/{name}">{ui["download"].format(name=name)}</a> · '
            f'<a href="{html.escape(hosted.colab_url(hosted_name))}">{ui["colab"]}</a> · '
            f'<a href="{html.escape(hosted.kaggle_url(hosted_name))}">{ui["kaggle"]}</a></p>')


# ----------------------------------------------------------------------------------------------
# the index and the glossary (plain pages around our own HTML)


def plain_page(title: str, body: str, pages: list[Page], current: str, lang: str = "en", switch: str = "") -> str:
    ui, static = UI[lang], _static_prefix(lang)
    top = page_top(pages, None, lang=lang) if current == "index.html" else \
        f'<nav class="book-prevnext" aria-label="{ui["prevnext"]}">' \
        f'<a rel="prev" href="{pages[-1].html_name}">← {html.escape(pages[-1].title)}</a>' \
        f'<a rel="next" href="index.html">{ui["contents"]} →</a></nav>'
    return f"""<!DOCTYPE html>
<html lang="{ui["code"]}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{static}jupyterlab.css"><link rel="stylesheet" href="{static}book.css">
<script src="{static}mathjax-config.js"></script>
<script src="{static}mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"></script>
</head>
<body class="book-page" data-jp-theme-light="true">
<a class="skip-link" href="#content">{ui["skip"]}</a>
{header(title, lang, switch)}
<div class="book-layout">
{sidebar(pages, current, lang)}
<main id="content" tabindex="-1" class="jp-RenderedHTMLCommon">
{top}
{body}
</main>
</div>
<script src="{_search_index(lang)}"></script>
<script src="{static}book.js"></script>
</body></html>
"""


def _search_index(lang: str) -> str:
    return "_static/search-index.js" if lang == "en" else "../_static/search-index-zh.js"


def index_body(pages: list[Page], lang: str = "en") -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune as md

    ui = UI[lang]
    rows = []
    for page in pages:
        rows.append(f'<tr><th scope="row"><a href="{page.html_name}">{html.escape(page.title)}</a></th>'
                    f"<td>{md(page.learn)}</td><td>{md(page.write)}</td><td>{md(page.time)}</td></tr>")
    head = (f'<table class="course-map"><thead><tr><th scope="col">{"Notebook" if lang == "en" else "笔记本"}</th>'
            f'<th scope="col">{ui["learn"]}</th><th scope="col">{ui["write"]}</th><th scope="col">{ui["time"]}</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    if lang == "zh":
        return f"""<h1 id="bert-edu">bert-edu：亲手构建 BERT，并证明它是对的</h1>
<p>一门用 PyTorch 一步步构建 BERT 的笔记本课程，每个部件都与 🤗 <code>transformers</code> 对照检验。这些页面展示每个笔记本运行后的样子，
连同输出和图：这里什么都不运行，也不从网络加载任何东西。想自己运行笔记本，可以在它的页面上下载，或用页面顶部的链接在 Colab、Kaggle 中打开。</p>
<h2 id="course-map">课程地图</h2>
<p>请按顺序学习：每个笔记本都建立在前一个之上。用时是在 2 核 CPU 上测得的。</p>
{head}
<p><a href="glossary.html">术语表</a>（中文术语对照）解释课程用到的术语；笔记本在术语第一次出现的地方链接到它。
用页面顶部的搜索框可以搜索所有页面（按 <kbd>/</kbd>）。</p>"""
    return f"""<h1 id="bert-edu">bert-edu: build BERT yourself, prove it right</h1>
<p>A notebook course that teaches BERT by building it in PyTorch, one piece at a time, every piece checked against
🤗 <code>transformers</code>. These pages show each notebook as it ran, with its outputs and figures: nothing here
runs, and nothing is loaded from the network. To run the notebooks yourself, download one from its page, or open it
in Colab or Kaggle from the links at its top.</p>
<h2 id="course-map">The course map</h2>
<p>Work through the notebooks in order: each builds on the one before. The times are measured on a 2-core CPU.</p>
{head}
<p>The <a href="glossary.html">glossary</a> explains the terms; the notebooks link to it where a term is first used.
Search every page with the box at the top (press <kbd>/</kbd>).</p>"""


def github_slug(text: str) -> str:
    """The anchor a code host gives a Markdown heading (what the notebooks' glossary links use)."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def glossary_body(markdown: str, stems: set[str], repository: str) -> tuple[str, list]:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune as md

    lines = []
    for line in rewrite_links(markdown, stems, repository, "docs").splitlines():
        m = re.match(r"^(#{2,4})\s+(.+)$", line)
        if m:
            lines.append(f'<a class="glossary-anchor" id="{github_slug(m.group(2))}"></a>')
        lines.append(line)
    rendered = md("\n".join(lines))
    sections = []
    for m in re.finditer(r'<a class="glossary-anchor" id="([^"]*)"></a>\s*<h\d[^>]*>(.*?)</h\d>(.*?)(?=<a class="glossary-anchor"|\Z)',
                         rendered, re.DOTALL):
        sections.append((m.group(1), _plain(m.group(2)), _plain(m.group(3))))
    return rendered, sections


# ----------------------------------------------------------------------------------------------
# the build


def _jupyterlab_css() -> str:
    """JupyterLab's stylesheet as the installed nbconvert ships it (read at build time, not committed)."""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("nbconvert", "templates", "lab", "static"):
        index, theme = Path(base) / "index.css", Path(base) / "theme-light.css"
        if index.is_file() and theme.is_file():
            return index.read_text(encoding="utf-8") + "\n" + theme.read_text(encoding="utf-8")
    raise BookError("nbconvert's lab template is not installed (its static/index.css is missing): "
                    "pip install --force-reinstall nbconvert")


def _prepare_out(out: Path, notebooks: Path) -> None:
    mine, nbs = out.resolve(), notebooks.resolve()
    if mine == nbs or mine in nbs.parents or nbs in mine.parents:
        raise BookError(f"{out} is, holds or lies inside the notebooks' folder: choose another --out")
    if out.exists():
        if not out.is_dir():
            raise BookError(f"{out} is a file, not a folder: choose another --out")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise BookError(f"{out} is not empty and holds no book built by bert-edu: choose an empty or new "
                            "folder for --out (a previous book is replaced; nothing else is overwritten)")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("built by bert-edu book; a rebuild replaces this folder\n")


def _copy_static(out: Path, mathjax: Path, figures: Path) -> Path:
    """The site's own CSS/JS, MathJax, bertviz's libraries and the notebooks' figures; returns _static/."""
    static = out / "_static"
    shutil.copytree(STATIC, static, ignore=shutil.ignore_patterns("templates", "__pycache__"))
    shutil.copytree(mathjax, static / "mathjax")
    (static / "jupyterlab.css").write_text(_jupyterlab_css(), encoding="utf-8")
    write_bertviz_libraries(static)
    (out / "notebooks").mkdir()
    if figures.is_dir():
        shutil.copytree(figures, out / "figures")
    return static


def _write_glossary(out: Path, pages: list[Page], notebooks: Path, stems: set[str], repository: str,
                    lang: str = "en", switch: str = "") -> list:
    """glossary.html from docs/glossary.md (the Chinese site: docs/glossary.zh-CN.md); returns its sections for the
    search index."""
    name = "glossary.md" if lang == "en" else "glossary.zh-CN.md"
    glossary_md = ROOT / "docs" / name
    if not glossary_md.is_file():
        glossary_md = notebooks.parent / "docs" / name
    gloss_html, gloss_sections = glossary_body(glossary_md.read_text(encoding="utf-8"), stems, repository)
    (out / "glossary.html").write_text(plain_page(UI[lang]["glossary"], gloss_html, pages, "glossary.html", lang,
                                                  switch), encoding="utf-8")
    return gloss_sections


def chinese_notebooks(english: list[Path]) -> list[Path]:
    """The built Chinese edition of ``english`` (``notebooks/zh/NN_name.ipynb``), when every one of them has one."""
    folder = english[0].parent / "zh"
    paths = [folder / p.name for p in english]
    return paths if all(p.is_file() for p in paths) else []


def build(out: Path, notebooks: Path | None = None, zip_path: Path | None | bool = None,
          verbose: bool = True) -> dict:
    """Build the site into ``out`` (and a zip of it, by default ``<out>.zip``): the English site, and the Chinese
    one in ``out/zh/`` when the notebooks have a complete Chinese edition. Returns a summary: pages, their sizes in
    bytes, the zip's size, the seconds taken."""
    from bert_edu.data import assets

    start = time.perf_counter()
    paths = find_notebooks(notebooks)
    mathjax = assets.get("mathjax") / "MathJax"  # pinned, sha256-checked; fetched once if missing
    out = Path(out)
    _prepare_out(out, paths[0].parent)
    static = _copy_static(out, mathjax, paths[0].parent / "figures")
    zh_paths = chinese_notebooks(paths)
    pages = _build_site(out, paths, "en", bool(zh_paths))
    if zh_paths:
        (out / "zh").mkdir()
        (out / "zh" / "notebooks").mkdir()
        _build_site(out / "zh", zh_paths, "zh", True)
    return _finish(out, pages, zip_path, start, verbose, languages=["en", "zh"] if zh_paths else ["en"])


def _build_site(out: Path, paths: list[Path], lang: str, bilingual: bool) -> list[Page]:
    """The pages, glossary, index and search index of one language into ``out`` (the Chinese site: ``out/zh``)."""
    import nbformat

    from bert_edu.course import hosted

    repository = f"{hosted.REPOSITORY}/blob/{hosted.RELEASE}"
    loaded, pages = [], []
    stems = {p.stem for p in paths}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        head = header_table(nb)
        page = Page(path, path.stem, title_of(nb, path.stem), head.get("You will learn", ""),
                    head.get("You will write", ""), head.get("Time", ""))
        prepare(page, nb, stems, repository, lang)
        shutil.copyfile(path, out / "notebooks" / path.name)
        loaded.append(nb)
        pages.append(page)

    write_pages(out, pages, loaded, lang, bilingual)
    switch = (lambda name: language_switch(lang, name, True)) if bilingual else (lambda name: "")
    gloss_sections = _write_glossary(out, pages, paths[0].parent, stems, repository, lang, switch("glossary.html"))
    (out / "index.html").write_text(plain_page(UI[lang]["site_title"], index_body(pages, lang), pages, "index.html",
                                               lang, switch("index.html")), encoding="utf-8")
    static = out / "_static" if lang == "en" else out.parent / "_static"
    write_search_index(static, pages, gloss_sections, lang)
    return pages


def write_pages(out: Path, pages: list[Page], loaded: list, lang: str = "en", bilingual: bool = False) -> None:
    """One page per notebook (nbconvert with the book template), its images written under _images/."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="book", extra_template_basedirs=[str(STATIC / "templates")],
                            exclude_anchor_links=False)
    exporter.register_preprocessor("nbconvert.preprocessors.ExtractOutputPreprocessor", enabled=True)
    exporter.language_code = UI[lang]["code"]  # <html lang=...>
    for i, (page, nb) in enumerate(zip(pages, loaded)):
        resources = {
            "output_files_dir": f"_images/{page.stem}",
            "metadata": {"name": page.title},
            "book": {
                "header": header(page.title, lang, language_switch(lang, page.html_name, bilingual)),
                "sidebar": sidebar(pages, page.html_name, lang),
                "top": page_top(pages, i, notebook_links(page, lang), lang),
                "bottom": page_top(pages, i, lang=lang),
                "static": _static_prefix(lang),
                "search_index": _search_index(lang),
                "skip": UI[lang]["skip"],
            },
        }
        body, resources = exporter.from_notebook_node(nb, resources=resources)
        for name, data in resources.get("outputs", {}).items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (out / page.html_name).write_text(body, encoding="utf-8")


def write_search_index(static: Path, pages: list[Page], gloss_sections: list, lang: str = "en") -> None:
    """Every page's sections as a script (a page opened from file:// cannot fetch a JSON file)."""
    index = [{"p": p.html_name, "t": p.title, "s": [{"a": a, "h": h, "x": x} for a, h, x in p.sections]}
             for p in pages]
    index.append({"p": "glossary.html", "t": UI[lang]["glossary"],
                  "s": [{"a": a, "h": h, "x": x} for a, h, x in gloss_sections]})
    name = "search-index.js" if lang == "en" else "search-index-zh.js"
    (static / name).write_text(
        "// generated by bert_edu/course/book.py: the text of every page, for the offline search\n"
        f"window.BOOK_SEARCH = {json.dumps(index, ensure_ascii=False, separators=(',', ':'))};\n", encoding="utf-8")


def _finish(out: Path, pages: list[Page], zip_path, start: float, verbose: bool, languages=("en",)) -> dict:
    """Check the page weights, write the zip, say what was built."""
    sizes = {}
    for html_file in [*out.glob("*.html"), *out.glob("zh/*.html")]:
        sizes[html_file.relative_to(out).as_posix()] = html_file.stat().st_size
    heavy = {name: size for name, size in sizes.items() if size > PAGE_LIMIT}
    if heavy:
        raise BookError(f"pages over {PAGE_LIMIT // 10**6} MB: {heavy}; write large outputs to files instead")

    summary = {"out": str(out), "pages": sizes, "seconds": None, "zip": None, "zip_bytes": None,
               "languages": list(languages)}
    if zip_path is not False:
        zip_path = Path(zip_path) if zip_path else out.with_name(out.name + ".zip")
        write_zip(out, zip_path)
        summary["zip"], summary["zip_bytes"] = str(zip_path), zip_path.stat().st_size
        if summary["zip_bytes"] > ZIP_LIMIT:
            raise BookError(f"{zip_path} is {summary['zip_bytes'] / 1e6:.1f} MB, over {ZIP_LIMIT // 10**6} MB")
    summary["seconds"] = round(time.perf_counter() - start, 1)
    if verbose:
        print(f"[book] {len(pages)} notebooks + index + glossary ({' + '.join(languages)}) -> {out}/index.html "
              f"(largest page {max(sizes.values()) / 1e6:.1f} MB) in {summary['seconds']} s")
        if summary["zip"]:
            print(f"[book] {summary['zip']}: {summary['zip_bytes'] / 1e6:.1f} MB; unzip it anywhere and open "
                  "index.html (works from disk, offline)")
    return summary


def write_zip(folder: Path, zip_path: Path) -> None:
    """The whole site in one zip, under one top folder; written to a temporary name, then renamed."""
    tmp = zip_path.with_name(zip_path.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != MARKER:
                zf.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    tmp.replace(zip_path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bert-edu book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("book"), help="the site's folder (default: book)")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="the executed course notebooks (default: notebooks/ of this clone)")
    parser.add_argument("--zip", type=Path, default=None, help="the zip of the site (default: OUT.zip)")
    parser.add_argument("--no-zip", action="store_true", help="do not write the zip")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.notebooks, False if args.no_zip else args.zip)
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
