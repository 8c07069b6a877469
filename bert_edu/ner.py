"""`bert_edu.ner` is `bert_edu.train.ner` (the code is in bert_edu/train/ner.py); kept so `python -m bert_edu.ner` works."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.train.ner")
