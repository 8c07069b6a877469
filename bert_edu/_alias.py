"""Old top-level names kept working after the package grew folders (see CONTRIBUTING, "Where things live").

``python -m bert_edu.pretrain`` and ``import bert_edu.pretrain`` still work: the module at the old path is
a three-line shim that calls :func:`alias`, which makes the old name *the same module object* as the new one
(so ``monkeypatch`` and ``isinstance`` see one thing) or, under ``-m``, runs the new module's ``main``.
"""

import importlib
import sys


def alias(old_name: str, new_name: str) -> None:
    module = importlib.import_module(new_name)
    if old_name == "__main__":
        sys.exit(module.main())
    sys.modules[old_name] = module
