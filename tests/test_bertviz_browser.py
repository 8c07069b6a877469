"""bertviz pages built from our model's attentions really draw, in a real browser.

The test saves bertviz's head view and model view of one sentence pair (bert_edu.BertModel, MiniLM
weights) as standalone pages, opens them in headless Chromium and reads the result through the
DevTools protocol: the SVG holds one text element per token and one line per (head, query, key), the
lines' opacities are our attention weights, and the page raised no script error.

bertviz's pages load require.js, d3 and jQuery from a CDN. Here the CDN addresses in the page are
rewritten to a small HTTP server on 127.0.0.1 that serves local copies of the same files, and Chromium
is told that every other host name does not exist, so the test never leaves this machine.

Needs: /usr/bin/chromium (or $BERT_EDU_CHROMIUM) and the libraries in $BERT_EDU_BROWSER_JS (default
~/.cache/bert-edu/browser-js); `bash .ci/browser-setup.sh` installs both. Missing ones fail the test
with that instruction: a browser test that skips itself would go silently untested in CI.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from bert_edu.course import viz
from bert_edu.data.assets import cache_dir

SETUP = "bash .ci/browser-setup.sh"
CHROMIUM = os.environ.get("BERT_EDU_CHROMIUM", "/usr/bin/chromium")
JS_DIR = Path(os.environ.get("BERT_EDU_BROWSER_JS", cache_dir() / "browser-js"))
PAGE_TIMEOUT = 30.0  # seconds for a page to draw; it takes well under one on an idle machine


# ----------------------------------------------------------------------------------------------
# a minimal DevTools-protocol client over --remote-debugging-pipe (no port, no extra package)


class DevTools:
    """Chromium reads JSON commands on its fd 3 and writes replies and events on fd 4, each message
    ending with a NUL byte. Commands for a page carry that page's ``sessionId`` ("flat" mode)."""

    def __init__(self, chromium: str, profile: Path, log_path: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium's ends, renumbered to >= 10 so that the shell's "3<&r 4>&w" cannot overwrite one
        # with the other (as "3<&4 4>&3" would)
        r, w = _high_fd(to_chrome_r), _high_fd(from_chrome_w)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
            f"--user-data-dir={profile}",
            # every host name but 127.0.0.1 fails to resolve: nothing can leave this machine
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-pipe", "about:blank",
        ]
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{r} 4>&{w}', "bash", chromium, *flags],
            pass_fds=(r, w), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        os.close(r)
        os.close(w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 20.0) -> dict:
        """Send one command and wait for its reply; events that arrive meanwhile go to ``self.events``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline - time.monotonic())
            if reply is None:
                raise TimeoutError(f"Chromium did not answer {method} within {timeout} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Collect events for a while."""
        deadline = time.monotonic() + seconds
        while (event := self._read(deadline - time.monotonic())) is not None:
            self.events.append(event)

    def _read(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + max(timeout, 0)
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                return None
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                self._log.flush()
                tail = Path(self._log.name).read_text(errors="replace").strip().splitlines()[-15:]
                raise RuntimeError(f"Chromium exited (code {self.process.poll()}); its output ends with:\n"
                                   + "\n".join(tail))
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._log.close()


def _high_fd(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


# ----------------------------------------------------------------------------------------------
# fixtures: what the browser needs, the pages, a local server standing in for the CDN


def _missing_requirements() -> list[str]:
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"the Chromium browser ({CHROMIUM})")
    for name, url in viz.BERTVIZ_SCRIPTS.items():
        local = JS_DIR / url.removeprefix(viz.BERTVIZ_CDN.removesuffix("ajax/libs/"))
        if not local.is_file() or local.stat().st_size == 0:
            missing.append(f"{name} ({local})")
    return missing


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = _missing_requirements()
    if missing:
        pytest.fail(f"the bertviz browser test needs {'; '.join(missing)}. Install them with: {SETUP} "
                    "(as root; CI runs it from .ci/run). Set BERT_EDU_CHROMIUM / BERT_EDU_BROWSER_JS "
                    "to use a browser or libraries elsewhere.", pytrace=False)
    tmp = tmp_path_factory.mktemp("chromium")
    devtools = DevTools(CHROMIUM, tmp / "profile", tmp / "chromium.log")
    try:
        devtools.send("Browser.getVersion", timeout=60)  # the first start can be slow on a busy machine
        yield devtools
    finally:
        devtools.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An HTTP server on 127.0.0.1 serving a folder laid out like the CDN (ajax/libs/...) plus our pages."""
    root = tmp_path_factory.mktemp("site")
    if (JS_DIR / "ajax").is_dir():
        shutil.copytree(JS_DIR / "ajax", root / "ajax")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.root = root
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


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


def publish(server, name: str, html: str, local_libraries: bool = True) -> str:
    """Save a bertviz view as a page on the local server; return its URL.

    With ``local_libraries`` the CDN addresses in the page point at the local server instead.
    """
    for url in viz.BERTVIZ_SCRIPTS.values():  # require.js is a <script src>, d3/jQuery are require paths
        assert url.removesuffix(".js") in html, f"bertviz no longer loads {url}: update bert_edu.course.viz.BERTVIZ_SCRIPTS"
    if local_libraries:
        html = html.replace(viz.BERTVIZ_CDN, server.base + "ajax/libs/")
        assert viz.BERTVIZ_CDN not in html
    viz.save_html(html, server.root / name)
    return server.base + name


# ----------------------------------------------------------------------------------------------
# opening a page


def open_page(browser: DevTools, url: str, ready_js: str,
              timeout: float = PAGE_TIMEOUT) -> tuple[dict | None, list[str], list[str]]:
    """Load ``url`` in a new tab; poll ``ready_js`` (an expression that returns null until the view is
    drawn, then a JSON-able summary of it). Returns (summary or None, script errors, requested URLs)."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        browser.send(f"{domain}.enable", session=session)
    first_event = len(browser.events)
    browser.send("Page.navigate", {"url": url}, session=session)
    summary, deadline = None, time.monotonic() + timeout
    while summary is None and time.monotonic() < deadline:
        browser.pump(0.1)
        result = browser.send("Runtime.evaluate", {"expression": ready_js, "returnByValue": True},
                              session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the test's own probe failed: {result['exceptionDetails']}")
        summary = result["result"].get("value")
    browser.pump(0.3)  # late errors, e.g. from a second script
    events = [e for e in browser.events[first_event:] if e.get("sessionId") == session]
    browser.send("Target.closeTarget", {"targetId": target})
    return summary, _errors(events), _requests(events)


def _errors(events: list[dict]) -> list[str]:
    errors = []
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            errors.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        elif e["method"] == "Network.loadingFailed":
            errors.append(f"network: {p['errorText']}")
    return errors


def _requests(events: list[dict]) -> list[str]:
    return [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]


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


def test_head_view_draws_our_attention(browser, server, pair):
    attentions, tokens, b_start = pair
    layer = 2
    url = publish(server, "head_view.html", viz.head_view_html(attentions, tokens, b_start, layer=layer))
    drawn, errors, requests = open_page(browser, url, HEAD_VIEW_PROBE)

    assert not errors, "the page raised script errors:\n" + "\n".join(errors)
    assert drawn is not None, f"the head view drew no attention lines within {PAGE_TIMEOUT} s"
    assert all(r.startswith(server.base) for r in requests), f"requests left 127.0.0.1: {requests}"
    assert any(r.endswith("d3.min.js") for r in requests) and any(r.endswith("jquery.min.js") for r in requests)

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


def test_model_view_draws_every_head(browser, server, pair):
    attentions, tokens, b_start = pair
    url = publish(server, "model_view.html", viz.model_view_html(attentions, tokens, b_start))
    drawn, errors, requests = open_page(browser, url, MODEL_VIEW_PROBE)

    assert not errors, "the page raised script errors:\n" + "\n".join(errors)
    assert drawn is not None, f"the model view drew no attention lines within {PAGE_TIMEOUT} s"
    assert all(r.startswith(server.base) for r in requests), f"requests left 127.0.0.1: {requests}"
    attn = viz.stack_layers(attentions)
    n_layers, n_heads, T, _ = attn.shape
    assert drawn["svgs"] >= 1
    assert len(drawn["opacities"]) == n_layers * n_heads * T * T  # a thumbnail per (layer, head)
    # thumbnails are drawn layer by layer, head by head, and a line's opacity is the weight itself
    torch.testing.assert_close(torch.tensor(drawn["opacities"]), attn.flatten(), atol=6e-4, rtol=0)
    assert any("Layer" in t for t in drawn["texts"]) and any("Head" in t for t in drawn["texts"])


def test_without_the_libraries_the_view_does_not_draw(browser, server, pair):
    """The control that shows the test can fail: the unmodified page asks the CDN for its scripts, the
    browser cannot reach it (every other host is blocked), and nothing is drawn."""
    attentions, tokens, b_start = pair
    url = publish(server, "head_view_cdn.html", viz.head_view_html(attentions, tokens, b_start),
                  local_libraries=False)
    drawn, errors, requests = open_page(browser, url, HEAD_VIEW_PROBE, timeout=3.0)
    assert drawn is None
    assert any(r.startswith(viz.BERTVIZ_CDN) for r in requests)
    assert any("ERR_NAME_NOT_RESOLVED" in e for e in errors), errors  # the CDN was not reachable
    assert any("require is not defined" in e for e in errors), errors  # so bertviz's script failed
