"""`bert_edu.viz` is `bert_edu.course.viz` (the code is in bert_edu/course/viz.py); kept so old imports and `python -m` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.course.viz")
