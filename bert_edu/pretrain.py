"""`bert_edu.pretrain` is `bert_edu.train.pretrain` (the code is in bert_edu/train/pretrain.py); kept so old imports and `python -m` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.train.pretrain")
