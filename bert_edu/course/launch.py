"""Open the course: `bert-edu course` (what `make course` runs).

    bert-edu course [--solutions] [--print-folder] [--folder DIR] [JUPYTERLAB OPTIONS ...]

By default it opens the **exercise edition** (every solution replaced by ``raise NotImplementedError()``): it
builds it into ``student/`` next to ``notebooks/`` when it is missing, brings it up to date otherwise, and starts
JupyterLab there. A learner's work is never lost: a notebook the learner edited is kept as it is, and when the
course's version of it changed since, the new one is written beside it (``07_pretraining.new.ipynb``) with one line
saying so (:func:`bert_edu.course.student_edition.update_student_edition` decides "edited" by comparing the file
with the hash of what it wrote).

* ``--solutions`` opens the reference notebooks (``notebooks/``, every solution filled in) instead.
* ``--lang zh`` opens the Chinese edition (``notebooks/zh/``, built by ``bert-edu translate build``): its exercise
  edition goes to ``student/zh/`` beside the English one (whose ``figures/`` its pages show), JupyterLab opens in
  that folder, and its kernels run with ``BERT_EDU_LANG=zh`` so the checkers speak Chinese. JupyterLab's own menus
  are Chinese when its language pack is installed (``pip install -e ".[course,zh]"``: the optional ``zh`` extra,
  ``jupyterlab-language-pack-zh-CN``); without it the command says how to add it.
* ``--print-folder`` does everything except start JupyterLab: it builds or updates the edition, prints the folder
  as its last line and exits (for tests and scripts).
* Run as root (containers, classroom images), it passes ``--allow-root`` to JupyterLab and says so.
* The course's JupyterLab does not ask about "official Jupyter news": the course points JupyterLab's application
  settings (``--LabApp.app_settings_dir``) at a folder of its own, in the course cache, whose ``overrides.json``
  switches the news and update checks off. The user's own Jupyter settings are not touched.

Any other option goes to ``jupyter lab`` as it is (``bert-edu course --port 8899 --no-browser``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bert_edu.course import student_edition as se

# JupyterLab's settings for the course: no "official Jupyter news?" prompt, no update check
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def repository() -> Path:
    return se.default_notebooks_dir().parent


LANGUAGES = ("en", "zh")
ZH_LOCALE = {"@jupyterlab/translation-extension:plugin": {"locale": "zh_CN"}}


def zh_language_pack_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("jupyterlab_language_pack_zh_CN") is not None


def lab_overrides(lang: str = "en") -> dict:
    """JupyterLab's settings for the course in ``lang``: Chinese menus when the language pack is installed."""
    if lang == "zh" and zh_language_pack_installed():
        return {**LAB_OVERRIDES, **ZH_LOCALE}
    return dict(LAB_OVERRIDES)


def lab_settings_dir(lang: str = "en") -> Path:
    """The course's own JupyterLab application settings (``overrides.json``), in the course cache."""
    from bert_edu.data.assets import cache_dir

    folder = cache_dir() / ("jupyterlab-settings" if lang == "en" else f"jupyterlab-settings-{lang}")
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(lab_overrides(lang), indent=2) + "\n"
    target = folder / "overrides.json"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    return folder


def lab_command(folder: Path, extra: list[str], is_root: bool | None = None, lang: str = "en",
                start_in: str | None = None) -> list[str]:
    """The ``jupyter lab`` command line that serves ``folder`` with the course's settings (opening ``start_in``,
    a sub-folder, when given)."""
    is_root = (hasattr(os, "geteuid") and os.geteuid() == 0) if is_root is None else is_root
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}",
           f"--LabApp.app_settings_dir={lab_settings_dir(lang)}"]
    if start_in:
        cmd.append(f"--FileContentsManager.preferred_dir={start_in}")
    if is_root and "--allow-root" not in extra:
        cmd.append("--allow-root")
    return cmd + list(extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bert-edu course",
        description="Open the course in JupyterLab: the exercise edition in student/ (built or updated first, a "
                    "learner's edits are never overwritten), or the reference notebooks with --solutions. Other "
                    "options go to `jupyter lab`.")
    parser.add_argument("--solutions", action="store_true",
                        help="open the reference notebooks (notebooks/, every solution filled in)")
    parser.add_argument("--print-folder", action="store_true",
                        help="build or update the edition, print its folder as the last line and exit")
    parser.add_argument("--folder", type=Path, default=None,
                        help="the exercise edition's folder (default: student/ next to notebooks/)")
    parser.add_argument("--lang", default="en", metavar="{en,zh}",
                        help="the course's language: en (default) or zh, the Chinese edition (notebooks/zh/, its "
                             "exercise edition in student/zh/, checkers in Chinese)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    lang = args.lang.lower().replace("_", "-").split("-")[0]
    if lang not in LANGUAGES:
        print(f"error: --lang {args.lang}: the course has {' and '.join(LANGUAGES)}; pass --lang zh for the Chinese "
              "edition", file=sys.stderr)
        return 2
    start_in = "zh" if lang == "zh" else None
    if args.solutions:
        folder = se.default_notebooks_dir()
        if not folder.is_dir():
            print(f"error: no notebooks folder at {folder}: run this from a copy of the course repository",
                  file=sys.stderr)
            return 2
        if lang == "zh" and not any((folder / "zh").glob("[0-9][0-9]_*.ipynb")):
            print(f"error: no Chinese edition in {folder / 'zh'}: run `bert-edu translate build` first",
                  file=sys.stderr)
            return 2
        print(f"opening the reference notebooks (every solution filled in): {folder / start_in if start_in else folder}")
    else:
        folder = args.folder if args.folder is not None else repository() / "student"
        try:
            done = se.update_student_edition(folder)
            if lang == "zh":  # beside the English edition, whose figures/ the Chinese pages show (../figures)
                zh_source = se.default_notebooks_dir() / "zh"
                if not any(zh_source.glob("[0-9][0-9]_*.ipynb")):
                    raise FileNotFoundError(f"no Chinese edition in {zh_source}: run `bert-edu translate build` first")
                done = se.update_student_edition(Path(folder) / "zh", zh_source)
        except (se.SolutionMarkerError, OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        counts = {what: sum(1 for v in done.values() if v == what) for what in set(done.values())}
        label = "exercise edition (中文)" if lang == "zh" else "exercise edition"
        print(f"{label}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    folder = folder.resolve()
    if args.print_folder:
        print(folder / start_in if start_in else folder)
        return 0
    extra = [a for a in extra if a != "--"]
    cmd = lab_command(folder, extra, lang=lang, start_in=start_in)
    if "--allow-root" in cmd and "--allow-root" not in extra:
        print("running as root (a container?): starting JupyterLab with --allow-root")
    env = dict(os.environ)
    if lang == "zh":
        env["BERT_EDU_LANG"] = "zh"  # the kernels inherit it: the checkers speak Chinese
        if not zh_language_pack_installed():
            print("JupyterLab's menus stay English: pip install -e '.[zh]' adds its Chinese language pack "
                  "(jupyterlab-language-pack-zh-CN)")
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
