#!/usr/bin/env bash
# Install what the real-browser tests need (tests/test_bertviz_browser.py, test_browser_book.py,
# test_browser_jupyterlab.py): a headless Chromium (apt), a font with Chinese characters (apt: WenQuanYi Micro Hei,
# 1.6 MB, Apache-2.0 or GPLv3 with the font exception; without it the Chinese book pages' screenshots show empty
# boxes) and Playwright for Python (pip, into the course's virtual environment: .venv, or $BERT_EDU_PYTHON's).
# Playwright drives that system Chromium; its own browser download (`playwright install`) is never used.
# Idempotent: a second run checks and returns at once.
#
#   sudo bash .ci/browser-setup.sh        # root only for apt-get; CI calls it from .ci/run after `make setup`
#
# Nothing else: the JavaScript that bertviz's pages need (require.js, d3, jQuery) is inlined into the pages
# by bert_edu.course.viz, from PyPI wheels fetched like the course's other assets (pinned, sha256-checked:
# python -m bert_edu.assets download). Without Chromium the browser tests are skipped on a developer's
# machine (naming this command) and fail in CI (CI=true).
#
# Elsewhere (macOS, another Linux): install any Chromium or Chrome and point the test at it with
# BERT_EDU_CHROMIUM=/path/to/chromium.
set -euo pipefail

log() { echo "[browser-setup] $*"; }

# Playwright for Python, pinned by constraints.txt, into the course's environment
cd "$(dirname "$0")/.."
PY="${BERT_EDU_PYTHON:-.venv/bin/python}"
install_playwright() {
  if [ ! -x "$PY" ]; then
    echo "[browser-setup] no Python environment at $PY: run \`make setup\` first, or set BERT_EDU_PYTHON" >&2
    exit 1
  fi
  if "$PY" -c "import playwright.sync_api" 2>/dev/null; then
    log "playwright present: $("$PY" -m pip show playwright 2>/dev/null | sed -n 's/^Version: //p')"
  else
    log "installing playwright (pip, constraints.txt)"
    "$PY" -m pip install -q -c constraints.txt playwright
  fi
}

# the Debian packages: Chromium, and a CJK font for the Chinese pages (fontconfig finds it; the course's figures
# use their own pinned font, the cjk_font asset). Without the font the tests still pass: the screenshots show boxes.
CJK_FONT_PACKAGE=fonts-wqy-microhei
cjk_font_present() { dpkg -s "$CJK_FONT_PACKAGE" >/dev/null 2>&1 || fc-list :lang=zh family 2>/dev/null | grep -q .; }
if [ -x /usr/bin/chromium ] && cjk_font_present; then
  log "chromium present: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
  log "Chinese font present: $(fc-list :lang=zh family 2>/dev/null | head -n 1)"
  install_playwright
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  if [ -x /usr/bin/chromium ]; then  # only the font is missing: go on without it
    log "no font with Chinese characters: the Chinese book pages' screenshots will show boxes (as root:" \
        "bash $0 installs $CJK_FONT_PACKAGE, or install any CJK font)"
    install_playwright
    exit 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "[browser-setup] /usr/bin/chromium is missing and installing it needs root: sudo bash $0" >&2
  else
    echo "[browser-setup] no apt-get here: install Chromium with your system's package manager and set" \
         "BERT_EDU_CHROMIUM to its path" >&2
  fi
  exit 1
fi
log "installing Debian's chromium and $CJK_FONT_PACKAGE (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium "$CJK_FONT_PACKAGE" >/dev/null
log "installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1); Chinese font:" \
    "$(fc-list :lang=zh family 2>/dev/null | head -n 1)"
install_playwright
