"""`bert_edu.train.finetune` is `bert_edu.train.classify` (text classification, notebook 08), its old name;
kept so old imports and `python -m bert_edu.train.finetune` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.train.classify")
