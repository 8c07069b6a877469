#!/usr/bin/env bash
# Install what tests/test_bertviz_browser.py needs from outside Python: a headless Chromium. Idempotent:
# a second run checks and returns at once.
#
#   sudo bash .ci/browser-setup.sh        # needs root (apt-get); CI calls it from .ci/run
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

if [ -x /usr/bin/chromium ]; then
  log "chromium present: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "[browser-setup] /usr/bin/chromium is missing and installing it needs root: sudo bash $0" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "[browser-setup] no apt-get here: install Chromium with your system's package manager and set" \
       "BERT_EDU_CHROMIUM to its path" >&2
  exit 1
fi
log "installing Debian's chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
log "installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
