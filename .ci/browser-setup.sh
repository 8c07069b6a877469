#!/usr/bin/env bash
# Install what tests/test_bertviz_browser.py needs: a headless browser and the three JavaScript
# libraries that bertviz's pages load from a CDN when they open. Idempotent: a second run checks
# and returns in about a second.
#
#   bash .ci/browser-setup.sh            # as root (apt-get); CI calls it from .ci/run
#
# What it puts where:
#   * Debian's `chromium` package, via apt-get           -> /usr/bin/chromium
#   * require.js, d3, jQuery from the npm registry       -> $BERT_EDU_BROWSER_JS
#     (default: bert_edu's cache folder + /browser-js, i.e. $BERT_EDU_CACHE/browser-js, else
#     ~/.cache/bert-edu/browser-js: outside the repository, third-party JavaScript is never committed).
#     Files are laid out like the CDN's paths, e.g. ajax/libs/d3/5.7.0/d3.min.js, so the test serves
#     that folder on 127.0.0.1 in place of the CDN.
#
# Versions are the ones bertviz 1.4 asks the CDN for (see bert_edu.viz.BERTVIZ_SCRIPTS), with one
# substitution: jQuery 2.0.0 was never published on npm, so its path holds jQuery 2.1.0, the first 2.x
# release there (bertviz only calls $(), .append, .val, .text, .on and .empty, unchanged across 2.x).
# require.js is npm's unminified require.js 2.3.6, served under the CDN's name require.min.js.
# Each file is checked against the sha256 pinned below.
#
# Environment: BERT_EDU_BROWSER_JS (where the JS goes), BERT_EDU_CACHE / XDG_CACHE_HOME (its default
# parent, as in bert_edu.assets.cache_dir()).
set -euo pipefail

# the same folder as bert_edu.assets.cache_dir() / "browser-js", where the test looks
CACHE="${BERT_EDU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bert-edu}"
JS_DIR="${BERT_EDU_BROWSER_JS:-$CACHE/browser-js}"

# npm package@version | file inside the package tarball | path under JS_DIR (= CDN path) | sha256
LIBS=(
  "requirejs@2.3.6|package/require.js|ajax/libs/require.js/2.3.6/require.min.js|9485f0917f97fcf4f63a5ea365200ffd57f123f451382a2f9a1ad2e2fd51ac9b"
  "d3@5.7.0|package/dist/d3.min.js|ajax/libs/d3/5.7.0/d3.min.js|bdad5585ef9a965ff25458738309b006058c55f2c78d794d25fbecae35014609"
  "jquery@2.1.0|package/dist/jquery.min.js|ajax/libs/jquery/2.0.0/jquery.min.js|8851e7844413ec986053d7d497ca932861b8622d2369bb291777329c2a713c72"
)

log() { echo "[browser-setup] $*"; }

# --- the browser -------------------------------------------------------------------------------
if [ -x /usr/bin/chromium ]; then
  log "chromium present: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
else
  if [ "$(id -u)" != 0 ]; then
    echo "[browser-setup] /usr/bin/chromium is missing and installing it needs root: sudo bash $0" >&2
    exit 1
  fi
  log "installing Debian's chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  log "installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
fi

# --- the JavaScript libraries --------------------------------------------------------------------
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

missing=()
for entry in "${LIBS[@]}"; do
  IFS='|' read -r spec member dest sha <<<"$entry"
  sha_ok "$JS_DIR/$dest" "$sha" || missing+=("$entry")
done

if [ ${#missing[@]} -eq 0 ]; then
  log "JavaScript libraries present in $JS_DIR"
  exit 0
fi

if ! command -v npm >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "[browser-setup] npm is missing and installing it needs root: sudo bash $0" >&2
    exit 1
  fi
  log "installing npm (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq npm >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for entry in "${missing[@]}"; do
  IFS='|' read -r spec member dest sha <<<"$entry"
  log "fetching $spec from the npm registry -> $JS_DIR/$dest"
  # `npm pack` downloads the package tarball only (checked against the registry's integrity hash),
  # without its dependencies: we need one prebuilt file from each.
  tarball="$(cd "$work" && npm pack --silent "$spec" | tail -n 1)"
  mkdir -p "$(dirname "$JS_DIR/$dest")"
  tar -xzOf "$work/$tarball" "$member" >"$work/file"
  if ! sha_ok "$work/file" "$sha"; then
    echo "[browser-setup] $spec: $member does not have the pinned sha256 $sha; refusing to use it" >&2
    exit 1
  fi
  mv "$work/file" "$JS_DIR/$dest"
done
log "JavaScript libraries ready in $JS_DIR"
