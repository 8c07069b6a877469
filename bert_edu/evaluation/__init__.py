"""How the field scores BERT's applications: pure functions on labels and strings, no model code.

* :mod:`bert_edu.evaluation.entities` -- entity-level precision / recall / F1 (conlleval), notebook 10.
* :mod:`bert_edu.evaluation.squad` -- SQuAD exact match and F1, best-span decoding, notebook 11.
"""
