"""bertviz pages built from our model's attentions really draw, in a real browser, with no network.

The test saves bertviz's head view and model view of one sentence pair (bert_edu.BertModel, MiniLM
weights) as standalone pages, opens them from disk (file://) in headless Chromium driven by Playwright for
Python, and reads the result: the SVG holds one text element per token and one line per (head, query, key), the
lines' opacities are our attention weights, and the page raised no script error.

bertviz's own pages load require.js, d3 and jQuery from a CDN. bert_edu.course.viz inlines copies of the
three (from PyPI wheels, pinned and sha256-checked: bert_edu.data.assets) into the page, so it draws
offline. Here every request that is not the page's own file is blocked and recorded, and no server is running:
the page can only draw with what it carries. A control shows that bertviz's unmodified page draws nothing under
the same conditions.

Needs: Chromium (/usr/bin/chromium, or $BERT_EDU_CHROMIUM) and the playwright package, installed by
`sudo bash .ci/browser-setup.sh`. Without them the tests are skipped, naming that command; in CI (CI=true) they
fail instead (tests/system_requirements.py, tests/browser_support.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from bert_edu.course import viz
from browser_support import SETUP, Offline, missing_requirements

PAGE_TIMEOUT = 30.0  # seconds for a page to draw; it takes well under one on an idle machine


# ----------------------------------------------------------------------------------------------
# fixtures: the browser, the pages


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The folder the pages are saved in (opened as file:// URLs: no server)."""
    return tmp_path_factory.mktemp("pages")


@pytest.fixture(scope="module")
def pair():
    """Our model on one sentence pair: (output.attentions, tokens, sentence_b_start)."""
    from bert_edu import BertModel, BertTokenizer
    from bert_edu.data.assets import minilm_path

    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    model = BertModel.from_pretrained(minilm_path(), verbose=False).eval()
    enc = tokenizer("The cat sat on the mat.", "It was very happy.", return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    b_start = int(enc["token_type_ids"][0].tolist().index(1))
    return out.attentions, tokens, b_start


def publish(folder: Path, name: str, html: str) -> str:
    """Save a bertviz view as a standalone page; return its file:// URL."""
    return viz.save_html(html, folder / name).resolve().as_uri()


def only_the_page(requests: list[str], url: str) -> bool:
    """True when the browser asked for nothing but the page itself (inline data: URLs aside)."""
    return all(r == url or r.startswith("data:") for r in requests)


# ----------------------------------------------------------------------------------------------
# opening a page


def open_page(browser, url: str, ready_js: str,
              timeout: float = PAGE_TIMEOUT) -> tuple[dict | None, list[str], list[str]]:
    """Load ``url`` in a fresh context that lets only the page's own file through; poll ``ready_js`` (an
    expression that returns null until the view is drawn, then a JSON-able summary of it). Returns (summary or
    None, script errors and failed requests, every requested URL)."""
    offline = Offline(browser, allow=(url, "data:"))
    page = offline.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(url)
        summary, deadline = None, time.monotonic() + timeout
        while summary is None and time.monotonic() < deadline:
            summary = page.evaluate(ready_js)
            if summary is None:
                page.wait_for_timeout(100)
        page.wait_for_timeout(300)  # late errors, e.g. from a second script
    finally:
        offline.close()
    errors = [e.replace("request failed:", "network:", 1) for e in offline.errors]
    return summary, errors, requests


# The probes run in the page: null until bertviz has drawn, then what it drew.
HEAD_VIEW_PROBE = """(() => {
  const root = document.querySelector('[id^="bertviz-"]');
  const lines = root ? root.querySelectorAll('#attention line') : [];
  if (!lines.length) return null;
  return {
    svgs: root.querySelectorAll('svg').length,
    layer: root.querySelector('#layer').value,
    left: Array.from(root.querySelectorAll('#left text'), t => t.textContent),
    right: Array.from(root.querySelectorAll('#right text'), t => t.textContent),
    lines: Array.from(lines, l => [+l.parentNode.parentNode.getAttribute('head-index'),
                                   +l.getAttribute('left-token-index'), +l.getAttribute('right-token-index'),
                                   +l.getAttribute('stroke-opacity')]),
  };
})()"""

MODEL_VIEW_PROBE = """(() => {
  const root = document.querySelector('[id^="bertviz-"]');
  const lines = root ? root.querySelectorAll('svg line') : [];
  if (!lines.length) return null;
  return {
    svgs: root.querySelectorAll('svg').length,
    texts: Array.from(root.querySelectorAll('svg text'), t => t.textContent),
    opacities: Array.from(lines, l => +l.getAttribute('stroke-opacity')),
  };
})()"""


# ----------------------------------------------------------------------------------------------
# the tests


def test_the_skip_or_fail_decision():
    """Outside CI a missing browser skips the tests, naming the install command; in CI it fails them."""
    from system_requirements import decide, in_ci

    missing = missing_requirements("/nonexistent/chromium")
    assert missing and "/nonexistent/chromium" in missing[0]
    action, reason = decide(missing, SETUP, ci=False)
    assert action == "skip" and SETUP in reason and "Chromium" in reason
    assert decide(missing, SETUP, ci=True)[0] == "fail"
    assert decide([], SETUP, ci=True) is None
    assert in_ci({"CI": "true"}) and in_ci({"CI": "1"}) and not in_ci({}) and not in_ci({"CI": "false"})


def test_head_view_draws_our_attention_offline(browser, pages, pair):
    attentions, tokens, b_start = pair
    layer = 2
    html = viz.head_view_html(attentions, tokens, b_start, layer=layer)
    assert "<script src=" not in html and html.count("data-bert-edu-library") == 3  # carries its scripts
    url = publish(pages, "head_view.html", html)
    drawn, errors, requests = open_page(browser, url, HEAD_VIEW_PROBE)

    assert not errors, "the page raised script errors:\n" + "\n".join(errors)
    assert drawn is not None, f"the head view drew no attention lines within {PAGE_TIMEOUT} s"
    assert only_the_page(requests, url), f"the page asked for more than itself: {requests}"

    attn = viz.stack_layers(attentions)
    n_layers, n_heads, T, _ = attn.shape
    assert drawn["svgs"] >= 1
    assert drawn["layer"] == str(layer)
    assert drawn["left"] == tokens and drawn["right"] == tokens  # one label per token, both sides
    assert len(drawn["lines"]) == n_heads * T * T  # one line per (head, query, key)
    # A line's opacity is its attention weight shared among the visible heads: our numbers, drawn.
    drawn_attn = torch.zeros(n_heads, T, T)
    for head, i, j, opacity in drawn["lines"]:
        drawn_attn[head, i, j] = opacity * n_heads
    torch.testing.assert_close(drawn_attn, attn[layer], atol=2e-3, rtol=0)


def test_model_view_draws_every_head_offline(browser, pages, pair):
    attentions, tokens, b_start = pair
    url = publish(pages, "model_view.html", viz.model_view_html(attentions, tokens, b_start))
    drawn, errors, requests = open_page(browser, url, MODEL_VIEW_PROBE)

    assert not errors, "the page raised script errors:\n" + "\n".join(errors)
    assert drawn is not None, f"the model view drew no attention lines within {PAGE_TIMEOUT} s"
    assert only_the_page(requests, url), f"the page asked for more than itself: {requests}"
    attn = viz.stack_layers(attentions)
    n_layers, n_heads, T, _ = attn.shape
    assert drawn["svgs"] >= 1
    assert len(drawn["opacities"]) == n_layers * n_heads * T * T  # a thumbnail per (layer, head)
    # thumbnails are drawn layer by layer, head by head, and a line's opacity is the weight itself
    torch.testing.assert_close(torch.tensor(drawn["opacities"]), attn.flatten(), atol=6e-4, rtol=0)
    assert any("Layer" in t for t in drawn["texts"]) and any("Head" in t for t in drawn["texts"])


def test_two_views_in_one_page_both_draw(browser, pages, pair):
    """As in a notebook, where every output lives in one page: the second view's copies of require.js,
    d3 and jQuery must not break the first (require.js keeps the first loader; a module defined twice
    keeps its first definition)."""
    attentions, tokens, b_start = pair
    both = viz.head_view_html(attentions, tokens, b_start) + viz.model_view_html(attentions, tokens, b_start)
    url = publish(pages, "both.html", both)
    probe = "(() => { const r = document.querySelectorAll('[id^=\"bertviz-\"]'); " \
            "return r.length == 2 && r[0].querySelector('line') && r[1].querySelector('line') ? r.length : null })()"
    drawn, errors, requests = open_page(browser, url, probe)
    assert not errors, "the page raised script errors:\n" + "\n".join(errors)
    assert drawn == 2 and only_the_page(requests, url)


def test_without_the_inlined_libraries_the_view_does_not_draw(browser, pages, pair):
    """The control that shows the test can fail: bertviz's own page asks the CDN for its scripts, the
    browser has no network, and nothing is drawn."""
    attentions, tokens, b_start = pair
    html = viz.head_view_html(attentions, tokens, b_start, inline_libraries=False)
    assert viz.BERTVIZ_SCRIPTS["require.js"] in html
    url = publish(pages, "head_view_cdn.html", html)
    drawn, errors, requests = open_page(browser, url, HEAD_VIEW_PROBE, timeout=3.0)
    assert drawn is None
    assert any(r.startswith(viz.BERTVIZ_CDN) for r in requests)
    assert any(e.startswith("network:") for e in errors), errors  # the CDN was not reachable
    assert any("require is not defined" in e for e in errors), errors  # so bertviz's script failed
