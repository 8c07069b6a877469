"""Re-execute course notebooks in place (what we commit, ``make notebooks``), and keep their outputs clean.

    python -m bert_edu.course.notebooks execute notebooks/*.ipynb   # run, clean, record the time
    python -m bert_edu.course.notebooks check notebooks/*.ipynb     # only the output checks
    python -m bert_edu.course.notebooks times notebooks/*.ipynb     # the recorded times, as a table

After running a notebook this tool:

* gives every ``tqdm.auto`` progress bar its final state as text: in Jupyter a bar is an ipywidget, and a static
  viewer (GitHub, nbviewer) shows the widget's ``text/plain`` fallback, which nbclient stores as the *first*
  frame ("0%|          | 0/50"); we rebuild the text from the widget's final state. Text bars on stderr keep only
  what follows the last carriage return of each line, as a terminal shows it;
* rewrites the library paths in warnings (``.../site-packages/x.py`` -> ``<site-packages>/x.py``);
* fails (exit 1) when an output still shows an absolute path of this machine (``/root/``, ``/home/``,
  ``/Users/``, ``/tmp/``, the repository or the cache folder): print paths relative to the cache or repository;
* runs a Chinese edition (``notebooks/zh/``, built by ``bert-edu translate build``; in its own folder, so
  ``chapter("05")`` reads the Chinese notebooks' modules) with ``BERT_EDU_LANG=zh``, so its checkers print Chinese;
  an English notebook runs with ``BERT_EDU_LANG=en``;
* records the wall time in the notebook's metadata (``metadata.bert_edu.cpu`` or ``.gpu``: ``wall_time_s``, the
  machine's CPU count and device), prints it, and writes it into the header's ``| **Time** |`` row.

Used by the Makefile and by the lead before a commit; tested in tests/test_notebooks_tool.py.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import sysconfig
import time
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MACHINE_PATH = re.compile(r"(?:/root/|/home/\w|/Users/\w|/tmp/|/private/var/|[A-Z]:\\Users\\)")
REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------ progress bars


def _widget_states(nb) -> dict:
    return nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _plain(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_text)).replace("\u2007", " ").replace("\xa0", " ")


def tqdm_text(model_id: str, states: dict, width: int = 10) -> str | None:
    """The text a tqdm.notebook bar shows in its final state, rebuilt from the stored widget state."""
    box = states.get(model_id, {})
    children = box.get("state", {}).get("children", [])
    if box.get("model_name") != "HBoxModel" or len(children) != 3:
        return None
    parts = [states.get(c.removeprefix("IPY_MODEL_"), {}) for c in children]
    if [p.get("model_name") for p in parts] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    prefix, bar, suffix = (p["state"] for p in parts)
    total, value = float(bar.get("max") or 0), float(bar.get("value") or 0)
    filled = int(width * value / total) if total else 0
    return f"{_plain(prefix.get('value', ''))}|{'█' * filled}{' ' * (width - filled)}|{_plain(suffix.get('value', ''))}"


def _collapse_carriage_returns(text: str) -> str:
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))


def finalise_progress_bars(nb) -> int:
    """Replace each progress bar's stored first frame with its last one; returns how many were changed."""
    states, changed = _widget_states(nb), 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                text = tqdm_text(data[WIDGET_VIEW].get("model_id", ""), states)
                if text is not None and data.get("text/plain") != text:
                    data["text/plain"] = text
                    changed += 1
            if out.get("output_type") == "stream" and "\r" in _text(out.get("text", "")):
                out["text"] = _collapse_carriage_returns(_text(out["text"]))
                changed += 1
    return changed


def frozen_bars(nb) -> list[str]:
    """Progress bars whose stored text is still the first frame (0%), e.g. when the widget state was not saved."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            text = _text(out.get("data", {}).get("text/plain", "")) if WIDGET_VIEW in out.get("data", {}) else ""
            if re.search(r"(?<!\d)0%\|", text):
                found.append(f"cell {index}: {text.strip()[:80]}")
    return found


# ------------------------------------------------------------------------------------------------ machine paths


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _library_prefixes() -> list[str]:
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")}
    return sorted(paths, key=len, reverse=True)


def shorten_library_paths(nb) -> None:
    """In stderr (warnings), ``/abs/.../site-packages/pkg/x.py`` -> ``<site-packages>/pkg/x.py``, and the
    course's own files relative to the repository (``/abs/.../bert_edu/x.py`` -> ``bert_edu/x.py``)."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = _text(out.get("text", ""))
                for prefix in _library_prefixes():
                    text = text.replace(prefix, f"<{Path(prefix).name}>")
                out["text"] = text.replace(str(REPO) + os.sep, "")


def machine_paths(nb, extra: tuple[str, ...] = ()) -> list[str]:
    """One line per output that shows an absolute path of the machine that ran it."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            texts = [_text(out.get("text", ""))] + [_text(v) for k, v in out.get("data", {}).items()
                                                    if k.startswith("text/")]
            texts.append("\n".join(_text(line) for line in out.get("traceback", [])))
            for text in texts:
                for line in text.splitlines():
                    if MACHINE_PATH.search(line) or any(e and e in line for e in extra):
                        found.append(f"cell {index}: {line.strip()[:120]}")
    return found


def _extra_paths() -> tuple[str, ...]:
    extra = [str(REPO)]
    try:
        from bert_edu.data.assets import cache_dir
        extra.append(str(cache_dir()))
    except Exception:  # the tool works without the package's assets too
        pass
    return tuple(p for p in extra if len(p) > 1)


# ------------------------------------------------------------------------------------------------ run


def _machine() -> dict:
    info = {"cpus": os.cpu_count(), "device": "cpu"}
    try:
        import torch
        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
        info["torch_threads"] = torch.get_num_threads()
    except Exception:
        pass
    return info


TIME_ROW = re.compile(r"^\| \*\*Time\*\* \|.*\|$", re.MULTILINE)
ZH_TIME_ROW = re.compile(r"^\| \*\*用时\*\* \|.*\|$", re.MULTILINE)


# The header's time row in each language of the course (the Chinese edition's is written by bert-edu translate).
TIME_ROW_WORDS = {
    "en": {"label": "Time", "cpu": "{s:.0f} s on a {cpus}-core CPU", "gpu": "{s:.0f} s on a GPU ({device})",
           "no_gpu": "GPU: not measured yet", "sep": "; ",
           "tail": " (measured by `make notebooks`; the last cell prints this run's time)"},
    "zh": {"label": "用时", "cpu": "{cpus} 核 CPU 上 {s:.0f} 秒", "gpu": "GPU（{device}）上 {s:.0f} 秒",
           "no_gpu": "GPU：尚未测量", "sep": "；", "tail": "（由 `make notebooks` 测量；最后一个单元格会打印本次运行的用时）"},
}


def time_row(record: dict, lang: str = "en") -> str:
    """The header's time row, from ``metadata.bert_edu``: {"cpu": {...}, "gpu": {...}} (either may be missing)."""
    words = TIME_ROW_WORDS[lang]
    parts = []
    if "cpu" in record:
        parts.append(words["cpu"].format(s=record["cpu"]["wall_time_s"], cpus=record["cpu"]["cpus"]))
    if "gpu" in record:
        parts.append(words["gpu"].format(s=record["gpu"]["wall_time_s"], device=record["gpu"]["device"]))
    else:
        parts.append(words["no_gpu"])
    return f"| **{words['label']}** | {words['sep'].join(parts)}{words['tail']} |"


def record_time(nb, seconds: float, machine: dict) -> None:
    """Keep the wall time in ``metadata.bert_edu`` (one entry for CPU, one for GPU runs) and write it into the
    first cell's ``| **Time** |`` row, if it has one."""
    record = dict(nb.metadata.get("bert_edu", {}))
    record["cpu" if machine.get("device", "cpu") == "cpu" else "gpu"] = {"wall_time_s": round(seconds),
                                                                         **machine}
    nb.metadata["bert_edu"] = record
    lang = language(nb)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = (ZH_TIME_ROW if lang == "zh" else TIME_ROW).sub(lambda _: time_row(record, lang),
                                                                          nb.cells[0].source)


def language(nb) -> str:
    """"zh" for a Chinese edition (``bert-edu translate build`` sets ``metadata.language``), else "en"."""
    return "zh" if str(nb.metadata.get("language", "")).lower().startswith("zh") else "en"


def clean(nb) -> list[str]:
    """Finalise progress bars, shorten library paths and take the JavaScript libraries bertviz's views
    carry out of the outputs (third-party code is never committed); returns the machine paths that remain."""
    from bert_edu.course.viz import strip_libraries_from_notebook

    finalise_progress_bars(nb)
    strip_libraries_from_notebook(nb)
    shorten_library_paths(nb)
    return machine_paths(nb, _extra_paths())


def execute(path: Path, timeout: int = 1800) -> tuple[float, list[str]]:
    """Run the notebook in place (in its own folder), clean it, record its wall time; returns
    (seconds, machine paths still in its outputs)."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    # the checkers speak the notebook's language (bert_edu.exercises reads BERT_EDU_LANG); the kernel inherits it
    saved = os.environ.get("BERT_EDU_LANG")
    os.environ["BERT_EDU_LANG"] = language(nb)
    try:
        client.execute()
    finally:
        if saved is None:
            os.environ.pop("BERT_EDU_LANG", None)
        else:
            os.environ["BERT_EDU_LANG"] = saved
    seconds = time.perf_counter() - start
    problems = clean(nb)
    record_time(nb, seconds, _machine())
    if "bert_edu_translation" in nb.metadata:  # a Chinese edition's own run: translate build keeps it
        nb.metadata["bert_edu_translation"]["executed"] = True
    nbformat.write(nb, path)
    return seconds, problems


def recorded_time(path: Path) -> dict:
    import json
    return json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {}).get("bert_edu", {})


def _report(path: Path, problems: list[str]) -> None:
    for line in problems:
        print(f"error: {path}: {line}: an absolute path of this machine; print it relative to the cache "
              "(bert_edu.data.assets.cache_dir()) or to the repository", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_edu.course.notebooks")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("execute", help="execute notebooks in place, in the order given, and clean their outputs",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    sub.add_parser("check", help="check committed outputs: no machine paths, no frozen bars").add_argument(
        "paths", nargs="+", type=Path)
    sub.add_parser("times", help="print the wall times recorded by execute").add_argument(
        "paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [p for p in args.paths if not p.is_file()]
    if missing:
        print(f"error: {missing[0]} does not exist; pass notebook files (e.g. notebooks/*.ipynb)", file=sys.stderr)
        return 2
    if args.cmd == "times":
        for path in args.paths:
            print(f"{path.name:36s} {time_row(recorded_time(path))[13:-2]}")
        return 0
    if args.cmd == "check":
        import nbformat
        failed = False
        for path in args.paths:
            nb = nbformat.read(path, as_version=4)
            frozen = finalise_progress_bars(nb) + len(frozen_bars(nb))
            problems = machine_paths(nb, _extra_paths())
            _report(path, problems)
            if frozen:
                print(f"error: {path}: {frozen} progress bar(s) stored at their first frame; re-run "
                      "`python -m bert_edu.course.notebooks execute` on it", file=sys.stderr)
            failed |= bool(problems or frozen)
        return 1 if failed else 0
    total, failed = 0.0, False
    for path in args.paths:
        print(f"executing {path} ...", flush=True)
        seconds, problems = execute(path, args.timeout)
        total += seconds
        print(f"  {path.name}: {seconds:.0f} s", flush=True)
        _report(path, problems)
        failed |= bool(problems)
    print(f"all {len(args.paths)} notebook(s): {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
