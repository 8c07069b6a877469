"""`bert_edu.finetune` is `bert_edu.train.classify` (the code is in bert_edu/train/classify.py); kept so old imports and `python -m bert_edu.finetune` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.train.classify")
