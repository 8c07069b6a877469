"""`bert_edu.predict` is `bert_edu.train.predict` (the code is in bert_edu/train/predict.py); kept so old imports and `python -m` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.train.predict")
