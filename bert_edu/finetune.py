"""`bert_edu.finetune` is `bert_edu.train.finetune` (the code is in bert_edu/train/finetune.py); kept so old imports and `python -m` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.train.finetune")
