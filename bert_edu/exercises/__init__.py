"""Exercise checkers: ``check_<name>(fn)`` runs your function on several cases, compares it with the
reference, prints what passed and, for a failure, the case, the expected vs actual value and a hint.
It returns True only when every case passes.

Each notebook's checkers live in a module named for its topic; they are all re-exported here, so a
notebook writes ``from bert_edu.exercises import check_attention``.
"""

import importlib
import pkgutil

from bert_edu.exercises._harness import Checker, use_or_reference  # noqa: F401

__all__ = ["Checker", "use_or_reference"]

# Re-export every check_* function from the topic modules (tokenization.py, attention.py, ...).
for _info in pkgutil.iter_modules(__path__):
    if _info.name.startswith("_"):
        continue
    _mod = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in dir(_mod):
        if _name.startswith("check_"):
            globals()[_name] = getattr(_mod, _name)
            if _name not in __all__:
                __all__.append(_name)
for _tmp in ('_info', '_mod', '_name'):
    globals().pop(_tmp, None)
