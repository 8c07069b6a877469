"""bert-edu: BERT built from scratch in PyTorch, checked against `transformers`.

The public names are imported lazily, so `import bert_edu` is fast and a notebook that
only needs the tokenizer does not pay for torch.
"""

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "BertTokenizer": "bert_edu.text.tokenizer",
    "train_wordpiece": "bert_edu.text.wordpiece",
    "BertConfig": "bert_edu.model.config",
    "BertModel": "bert_edu.model.bert",
    "BertForPreTraining": "bert_edu.model.heads",
    "BertForMaskedLM": "bert_edu.model.heads",
    "BertForSequenceClassification": "bert_edu.model.heads",
    "BertForTokenClassification": "bert_edu.model.heads",
    "BertForQuestionAnswering": "bert_edu.model.heads",
    "get_device": "bert_edu.train.device",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bert_edu' has no attribute {name!r}")


def __dir__():
    return __all__
