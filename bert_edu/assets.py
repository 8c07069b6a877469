"""`bert_edu.assets` is `bert_edu.data.assets` (the code is in bert_edu/data/assets.py); kept so old imports and `python -m` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.data.assets")
