"""`bert_edu.qa` is `bert_edu.train.qa` (the code is in bert_edu/train/qa.py); kept so `python -m bert_edu.qa` works."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.train.qa")
