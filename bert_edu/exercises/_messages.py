"""The checkers' messages in the learner's language: English as written in the checker modules, or Chinese from a
catalogue (``catalogues/zh.yaml``) for the Chinese edition of the notebooks.

**Language.** :func:`language` decides at print time: ``BERT_EDU_LANG`` (``zh``, ``zh-CN``, ``zh_CN`` -> Chinese;
``en``... -> English), else Chinese when the running notebook lies in a ``zh`` folder (JupyterLab's server puts
the notebook's path in the kernel's environment variable ``JPY_SESSION_NAME``), else English. A learner can
switch in a cell: ``os.environ["BERT_EDU_LANG"] = "zh"``.

**Catalogues.** ``catalogues/en.yaml`` lists every message template the checkers can print, extracted from the
source of ``bert_edu/exercises/*.py`` (:func:`extract`): an f-string becomes a template whose ``{holes}`` are
named by the expression's text (``f"{what} has shape {got_shape}"`` -> ``{what} has shape {got_shape}``).
``catalogues/zh.yaml`` maps each English template to its Chinese one, with the same holes.

**Translation.** :func:`say` finds the template that matches the whole English text (the one with the most
literal characters when several do), and fills the Chinese template's holes with the captured values, each
translated in turn when it is itself a catalogue message (the hint inside "... Likely mistake: {hint}").
Text no template matches is printed as it is.

Maintainers: ``python -m bert_edu.exercises._messages extract`` rewrites en.yaml from the source and adds empty
entries to zh.yaml for new templates (and drops orphans); ``... check`` lists what is missing (exit status 1).
"""

from __future__ import annotations

import ast
import functools
import os
import re
import sys
from pathlib import Path

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogues"
EXERCISES_DIR = Path(__file__).resolve().parent
LANG_ENV = "BERT_EDU_LANG"
LEARNER_FACING = [EXERCISES_DIR.parent / "course" / "learner.py"]  # other modules whose lines a learner reads
LANGUAGES = ("en", "zh")

# --------------------------------------------------------------------------------------------------- language

_warned: set[str] = set()


def language() -> str:
    """``"zh"`` or ``"en"``: ``BERT_EDU_LANG`` first, then the path of the running notebook, else English."""
    value = os.environ.get(LANG_ENV, "").strip()
    if value:
        low = value.lower()
        if low.startswith("zh"):
            return "zh"
        if low.startswith("en"):
            return "en"
        if value not in _warned:
            _warned.add(value)
            print(f"bert_edu: {LANG_ENV}={value!r} is not a language the checkers speak; accepted values: "
                  "zh, zh-CN, zh_CN (Chinese), en (English). Using English.", file=sys.stderr)
        return "en"
    session = os.environ.get("JPY_SESSION_NAME", "")
    folders = [part.lower() for part in re.split(r"[\\/]", session)[:-1]]
    if any(part == "zh" or part.startswith(("zh-", "zh_")) for part in folders):
        return "zh"
    return "en"


# --------------------------------------------------------------------------------------------------- templates

def parse_template(template: str) -> list[tuple[str, str]]:
    """``[("lit", text) | ("hole", name), ...]``; ``{{`` and ``}}`` are literal braces, a hole's name may itself
    hold balanced braces (``{', '.join(f'{k}=0.5' for k in active)}``)."""
    parts: list[tuple[str, str]] = []
    literal, i, n = [], 0, len(template)
    while i < n:
        c = template[i]
        if c in "{}" and template[i:i + 2] in ("{{", "}}"):
            literal.append(c)
            i += 2
        elif c == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                depth += {"{": 1, "}": -1}.get(template[j], 0)
                j += 1
            if literal:
                parts.append(("lit", "".join(literal)))
                literal = []
            parts.append(("hole", template[i + 1:j - 1]))
            i = j
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append(("lit", "".join(literal)))
    return parts


def holes(template: str) -> set[str]:
    return {name for kind, name in parse_template(template) if kind == "hole"}


class _Template:
    def __init__(self, english: str, chinese: str):
        self.english, self.chinese = english, chinese
        parts = parse_template(english)
        self.names = [name for kind, name in parts if kind == "hole"]
        literals = "".join(text for kind, text in parts if kind == "lit")
        self.score = len(literals)
        self.has_words = bool(re.search(r"[A-Za-z]", literals))
        # two ways to cut the text at the holes: each hole as short as possible, or as long as possible
        self.regexes = [re.compile(r"\A" + "".join(re.escape(text) if kind == "lit" else hole
                                                    for kind, text in parts) + r"\Z", re.DOTALL)
                        for hole in ("(.*?)", "(.*)")]
        self.zh_parts = parse_template(chinese)


def _load_yaml(path: Path) -> dict:
    import yaml

    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


@functools.lru_cache(maxsize=None)
def _templates() -> tuple[_Template, ...]:
    zh = _load_yaml(CATALOGUE_DIR / "zh.yaml")
    found = [_Template(en, text) for en, text in zh.items() if text]
    # a template of holes only would match any text: it is never used to translate
    found = [t for t in found if t.score > 0]
    return tuple(sorted(found, key=lambda t: -t.score))


def translate(text: str, *, nested: bool = False, depth: int = 0) -> str | None:
    """The Chinese of ``text`` when a catalogue template matches all of it, else None."""
    for t in _templates():
        if nested and not t.has_words:
            continue  # a captured value is translated only by a template with words in it
        best = None  # (number of captured values that are messages themselves, their translations)
        for regex in t.regexes:
            m = regex.match(text)
            if m is None:
                continue
            values: dict[str, str] = {}
            for name, value in zip(t.names, m.groups()):
                values.setdefault(name, value)
            inner = {name: translate(value, nested=True, depth=depth + 1) if value and depth < 4 else None
                     for name, value in values.items()}
            score = sum(v is not None for v in inner.values())
            if best is None or score > best[0]:
                best = (score, {name: inner[name] if inner[name] is not None else values[name] for name in values})
        if best is None or (not t.has_words and best[0] == 0):
            continue  # a template without words ("{name}: {text}") only serves to translate what it holds
        return _join([(kind, part if kind == "lit" else best[1].get(part, "")) for kind, part in t.zh_parts])
    return None


_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z0-9_)\]]")


def _join(parts: list[tuple[str, str]]) -> str:
    """The parts of a filled template, with a space where a filled hole's Latin text meets Chinese text
    (``input_ids 不对``, not ``input_ids不对``)."""
    out = ""
    previous_kind = None
    for kind, text in parts:
        if out and text and "hole" in (kind, previous_kind):
            a, b = out[-1], text[0]
            if (_LATIN.match(a) and _CJK.match(b)) or (_CJK.match(a) and _LATIN.match(b)):
                out += " "
        out += text
        previous_kind = kind
    return out


def say(text: str) -> str:
    """``text`` in the learner's language (unchanged in English, or when no catalogue template matches)."""
    if language() != "zh" or not isinstance(text, str) or not text:
        return text
    try:
        result = translate(text)
    except Exception:  # a broken catalogue must never hide a verdict
        return text
    return text if result is None else result


# --------------------------------------------------------------------------------------------------- extraction

# calls whose argument is a message: name -> positions of the message arguments (None: all)
_MESSAGE_CALLS = {"case": (0,), "expect": (1,), "CaseFailed": (0,), "print": None, "say": None}
_MESSAGE_KEYWORDS = {"what", "where", "message", "name"}
_PROSE = re.compile(r"[A-Za-z]{2,} \(?[A-Za-z]|[A-Za-z] [A-Za-z]{2,}")


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _template_of(node: ast.AST) -> str | None:
    """The template of a string-valued expression (literal, f-string, ``+`` of those), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _escape(node.value)
    if isinstance(node, ast.JoinedStr):
        out = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                out.append(_escape(str(value.value)))
            else:
                out.append("{" + ast.unparse(value.value) + "}")
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template_of(node.left), _template_of(node.right)
        if left is None and right is None:
            return None
        left = left if left is not None else "{" + ast.unparse(node.left) + "}"
        right = right if right is not None else "{" + ast.unparse(node.right) + "}"
        return left + right
    return None


def _literal_text(template: str) -> str:
    return "".join(text for kind, text in parse_template(template) if kind == "lit")


def _call_name(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


def extract_source(source: str) -> list[str]:
    """The message templates of one module's source, in order of appearance."""
    tree = ast.parse(source)
    found: list[str] = []
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    inside: set[int] = set()  # string nodes already taken as (part of) a template, or not messages
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):  # `"not callable" in text`: a test, not a message
            for sub in [node.left, *node.comparators]:
                for inner in ast.walk(sub):
                    inside.add(id(inner))

    def mark(node):
        """``node`` and the string parts it is made of (not the expressions in its holes) are taken."""
        inside.add(id(node))
        if isinstance(node, ast.JoinedStr):
            for value in node.values:
                inside.add(id(value))
        elif isinstance(node, ast.BinOp):
            for side in (node.left, node.right):
                if _template_of(side) is not None:
                    mark(side)

    def take(node):
        if id(node) in inside:
            return
        if isinstance(node, ast.IfExp):
            take(node.body)
            take(node.orelse)
            return
        template = _template_of(node)
        if template is None:
            return
        mark(node)
        parts = parse_template(template)
        if not _literal_text(template).strip():
            return  # only holes and spaces: layout, not a message
        if any(kind == "hole" and re.match(r"say\(", name) for kind, name in parts):
            return  # a line that prints a message already translated by say()
        found.append(template)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            positions = _MESSAGE_CALLS.get(_call_name(node), ())
            for i, arg in enumerate(node.args):
                if positions is None or i in positions:
                    take(arg)
            for kw in node.keywords:
                if kw.arg in _MESSAGE_KEYWORDS:
                    take(kw.value)
                if kw.arg in ("mistakes", "hints") and isinstance(kw.value, ast.Dict):
                    for key in kw.value.keys:
                        if key is not None:
                            take(key)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args + node.args.kwonlyargs
            defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + list(node.args.defaults)
            defaults += list(node.args.kw_defaults)
            for arg, default in zip(args, defaults):
                if arg.arg in _MESSAGE_KEYWORDS and default is not None:
                    take(default)
    # any other string with words in it: hint tables, case descriptions, messages kept in variables
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and id(node) not in inside:
            template = _template_of(node)
            if template is not None and _PROSE.search(_literal_text(template)):
                take(node)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Constant, ast.JoinedStr)) and id(node) not in inside and id(node) not in docstrings:
            template = _template_of(node)
            if template is not None and _PROSE.search(_literal_text(template)):
                take(node)
    return found


def extract(directory: Path = EXERCISES_DIR) -> dict[str, str]:
    """Every template of ``directory/*.py`` -> the modules it comes from (the content of en.yaml)."""
    where: dict[str, list[str]] = {}
    paths = sorted(directory.glob("*.py"))
    if directory == EXERCISES_DIR:  # the learner's chapters (chapter("05")) print their notes in the notebooks too
        paths += LEARNER_FACING
    for path in paths:
        if path.name == "_messages.py":
            continue  # this module's own lines are for maintainers, not learners
        for template in extract_source(path.read_text(encoding="utf-8")):
            if not template.strip():
                continue
            modules = where.setdefault(template, [])
            if path.stem not in modules:
                modules.append(path.stem)
    return {template: ", ".join(modules) for template, modules in where.items()}


def _dump(data: dict, path: Path, header: str) -> None:
    import yaml

    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100000, default_flow_style=False)
    path.write_text(header + text, encoding="utf-8")


EN_HEADER = ("# Every message template the checkers can print (template -> the modules it comes from).\n"
             "# Generated: python -m bert_edu.exercises._messages extract. Do not edit by hand.\n")
ZH_HEADER = ("# The checkers' messages in Chinese: English template (catalogues/en.yaml) -> Chinese template.\n"
             "# Keep every {hole} of the English (it may move), code, identifiers and numbers as they are;\n"
             "# terms as in docs/glossary.zh-CN.md. New templates: python -m bert_edu.exercises._messages extract.\n")


def gaps(en: dict | None = None, zh: dict | None = None) -> dict[str, list[str]]:
    """What stops the catalogues from being complete: stale en.yaml, untranslated, orphan, wrong holes."""
    source = extract()
    en = _load_yaml(CATALOGUE_DIR / "en.yaml") if en is None else en
    zh = _load_yaml(CATALOGUE_DIR / "zh.yaml") if zh is None else zh
    return {
        "in the source, not in en.yaml": [t for t in source if t not in en],
        "in en.yaml, no longer in the source": [t for t in en if t not in source],
        "not translated in zh.yaml": [t for t in en if not zh.get(t)],
        "in zh.yaml, not in en.yaml (orphans)": [t for t in zh if t not in en],
        "holes differ between en and zh": [t for t, z in zh.items() if z and holes(t) != holes(z)],
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["extract"]:
        source = extract()
        _dump(source, CATALOGUE_DIR / "en.yaml", EN_HEADER)
        zh = _load_yaml(CATALOGUE_DIR / "zh.yaml")
        _dump({t: zh.get(t) or "" for t in source}, CATALOGUE_DIR / "zh.yaml", ZH_HEADER)
        missing = sum(1 for t in source if not zh.get(t))
        print(f"{len(source)} templates; {missing} without a Chinese translation")
        return 0
    if args == ["check"]:
        found = {k: v for k, v in gaps().items() if v}
        for what, templates in found.items():
            print(f"{what}: {len(templates)}")
            for t in templates:
                print(f"  {t!r}")
        return 1 if found else 0
    print("usage: python -m bert_edu.exercises._messages extract|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
