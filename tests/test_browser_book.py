"""The book in a real browser, from its zip, with every network request blocked: the index and pages 02, 06 and
12 open without a console error, maths is typeset, notebook 06's bertviz views draw, every link resolves, the
keyboard reaches the search, and the search finds "WordPiece". Screenshots: test-artifacts/book/.

Playwright for Python on the system's Chromium (tests/browser_support.py); skipped outside CI without them,
naming the command that installs them; failed in CI."""

import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from browser_support import ARTIFACTS, Offline, needs_a_browser

PAGES = ["index.html", "02_embeddings.html", "06_attention_maps.html", "12_challenges.html"]

MATHJAX_DONE = """() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running
  && document.readyState === 'complete'"""

# text of the rendered markdown still written as TeX: maths MathJax left untouched
RAW_MATH = r"""() => Array.from(document.querySelectorAll('.jp-MarkdownOutput'))
  .map(e => e.innerText).join('\n').match(/\$[^$\n]{1,80}\$/g) || []"""


@pytest.fixture(scope="module")
def unzipped(browser, book_site, tmp_path_factory):  # browser first: skip before building
    needs_a_browser()
    _, summary = book_site
    folder = tmp_path_factory.mktemp("from-zip")
    with zipfile.ZipFile(summary["zip"]) as zf:
        zf.extractall(folder)
    return folder / "book"


class _Targets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.targets.append(a[key])


def _ids(path: Path) -> set:
    parser = _Targets()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.ids


def test_the_book_opens_offline_from_its_zip(unzipped, browser):
    shots = ARTIFACTS / "book"
    shots.mkdir(parents=True, exist_ok=True)
    offline = Offline(browser)
    page = offline.new_page()
    typeset = {}
    try:
        for name in PAGES:
            start = time.perf_counter()
            page.goto((unzipped / name).as_uri())
            page.wait_for_function(MATHJAX_DONE, timeout=60_000)
            typeset[name] = page.locator(".MathJax, .MathJax_Display").count()
            assert page.evaluate(RAW_MATH) == [], f"{name}: maths left as TeX"
            if name == "06_attention_maps.html":
                page.wait_for_function("""() => { const v = document.querySelectorAll('[id^="bertviz-"]');
                    return v.length > 0 && Array.from(v).every(e => e.querySelectorAll('svg line').length > 0) }""",
                                       timeout=60_000)
            page.screenshot(path=str(shots / f"{Path(name).stem}.png"))
            # every link and source of the page resolves to a file of the site (and its #anchor to an element)
            for target in page.evaluate("""() => Array.from(document.querySelectorAll('a[href], [src]'),
                                              e => e.href || e.src)"""):
                url = urlparse(target)
                if url.scheme != "file":
                    continue
                path = Path(unquote(url.path))
                assert path.is_file() and unzipped in path.parents, f"{name}: {target} does not resolve"
                if url.fragment and path.suffix == ".html":
                    ids = _ids(path)
                    assert url.fragment in ids or unquote(url.fragment) in ids, f"{name}: {target}: no such anchor"
            assert time.perf_counter() - start < 60
        assert typeset["02_embeddings.html"] > 0, "no maths was typeset on page 02"

        # the keyboard reaches the search: "/" focuses the box, the arrow key the first result
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "search-box"
        page.keyboard.type("WordPiece")
        results = page.locator("#search-results li a")
        results.first.wait_for(timeout=10_000)
        assert results.count() > 0 and "wordpiece" in results.first.inner_text().lower()
        page.screenshot(path=str(shots / "search.png"))
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.closest('#search-results') !== null")
        page.keyboard.press("Enter")
        page.wait_for_load_state("load")
        assert "wordpiece" in page.locator("main").inner_text().lower()
    finally:
        offline.close()
    assert not offline.errors, "console errors:\n" + "\n".join(offline.errors)
    assert not offline.blocked, f"the pages asked the network for: {offline.blocked}"


def test_the_chinese_site_opens_offline_and_switches_language(unzipped, browser):
    """zh/: the Chinese pages draw (maths typeset, notebook 06's views), search in Chinese, and the language link
    leads to the same page in English and back."""
    shots = ARTIFACTS / "book"
    shots.mkdir(parents=True, exist_ok=True)
    offline = Offline(browser)
    page = offline.new_page()
    try:
        page.goto((unzipped / "zh" / "02_embeddings.html").as_uri())
        page.wait_for_function(MATHJAX_DONE, timeout=60_000)
        assert page.locator(".MathJax, .MathJax_Display").count() > 0 and page.evaluate(RAW_MATH) == []
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        page.screenshot(path=str(shots / "zh-02_embeddings.png"))
        page.keyboard.press("/")
        page.keyboard.type("注意力")
        results = page.locator("#search-results li a")
        results.first.wait_for(timeout=10_000)
        assert results.count() > 0 and "注意力" in results.first.inner_text()
        page.keyboard.press("Escape")
        page.locator("a.book-lang").first.click()
        page.wait_for_load_state("load")
        page.wait_for_function(MATHJAX_DONE, timeout=60_000)  # leaving while MathJax loads a font aborts it
        assert page.url.endswith("/book/02_embeddings.html") and page.evaluate("document.documentElement.lang") == "en"
        page.locator("a.book-lang").first.click()
        page.wait_for_load_state("load")
        page.wait_for_function(MATHJAX_DONE, timeout=60_000)
        assert page.url.endswith("/book/zh/02_embeddings.html")
        page.goto((unzipped / "zh" / "06_attention_maps.html").as_uri())
        page.wait_for_function("""() => { const v = document.querySelectorAll('[id^="bertviz-"]');
            return v.length > 0 && Array.from(v).every(e => e.querySelectorAll('svg line').length > 0) }""",
                               timeout=60_000)
        page.screenshot(path=str(shots / "zh-06_attention_maps.png"))
    finally:
        offline.close()
    assert not offline.errors, "console errors:\n" + "\n".join(offline.errors)
    assert not offline.blocked, f"the pages asked the network for: {offline.blocked}"
