"""`bert_edu.train.qa_baseline` is `bert_edu.evaluation.baselines` (every baseline of notebooks 08, 10 and 11 in one
place); kept so old imports work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.evaluation.baselines")
