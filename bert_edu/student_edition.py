"""`bert_edu.student_edition` is `bert_edu.course.student_edition` (the code is in bert_edu/course/student_edition.py); kept so old imports and `python -m` work."""
from bert_edu._alias import alias

alias(__name__, "bert_edu.course.student_edition")
