"""Our BERT next to `transformers`' BERT, piece by piece (notebook 09).

The name map itself lives in :data:`bert_edu.model.convert.NAME_MAP` (one row per module, with ``{i}`` for the
layer index and ``{weight,bias}`` for the pair). This module only *uses* it:

* :func:`map_parameters` gives every parameter of a `transformers` model its row of the map, and fails
  loudly if one has none (so the map provably covers the whole model);
* :func:`module_outputs` records what every named sub-module returns, with forward hooks, so the two
  models can be compared module by module on the same input (the names are the same on both sides);
* :func:`side_by_side` builds the table the notebook prints: parameter names, the transformers class
  that holds them, ours, the notebook where the learner wrote it, the largest parameter difference and
  the largest difference of the module's output.
"""

from __future__ import annotations

import re

import torch

from bert_edu.model import convert

# Where the learner builds each of our classes (the map's second column, class part).
NOTEBOOK_OF = {
    "BertEmbeddings": "02_embeddings",
    "BertSelfAttention": "03_attention",
    "BertSelfOutput": "03_attention",
    "BertIntermediate": "04_encoder",
    "BertOutput": "04_encoder",
    "BertPooler": "05_bert_model",
    "BertPredictionHeadTransform": "07_pretraining",
    "BertLMPredictionHead": "07_pretraining",
    "BertPreTrainingHeads": "package (NSP head, given in 07)",
    "BertForSequenceClassification": "08_finetune_sentiment",
}


def _pattern_regex(pattern: str) -> re.Pattern:
    """'encoder.layer.{i}.output.dense.{weight,bias}' -> a regex; a model with heads adds 'bert.'."""
    body = re.escape(pattern).replace(r"\{i\}", r"\d+").replace(r"\{weight,bias\}", "(?:weight|bias)")
    return re.compile(rf"^(?:{re.escape(convert.BASE_PREFIX)})?{body}$")


_ROWS = [(_pattern_regex(hf), hf, ours, meaning) for hf, ours, meaning in convert.NAME_MAP]


def map_parameters(names) -> dict[str, tuple[str, str, str]]:
    """Each transformers parameter name -> its NAME_MAP row (hf pattern, our module, meaning).

    Raises KeyError listing the names that no row (or more than one row) covers.
    """
    out, unmapped = {}, []
    for name in names:
        rows = [(hf, ours, meaning) for regex, hf, ours, meaning in _ROWS if regex.match(name)]
        if len(rows) == 1:
            out[name] = rows[0]
        else:
            unmapped.append(f"{name} ({len(rows)} rows)")
    if unmapped:
        raise KeyError(f"convert.NAME_MAP does not cover exactly once: {', '.join(unmapped)}")
    return out


def module_of(param_name: str) -> str:
    """The sub-module that owns a parameter: 'bert.pooler.dense.weight' -> 'bert.pooler.dense'.
    A bare parameter (cls.predictions.bias) belongs to the module that holds it (cls.predictions)."""
    return param_name.rsplit(".", 1)[0]


def owner_name(model: torch.nn.Module, param_name: str) -> str:
    """'Class.attribute' of a parameter, as a reader would look it up in the source code:
    'bert.encoder.layer.3.attention.self.query.weight' -> 'BertSelfAttention.query';
    'cls.predictions.bias' (a parameter held directly by a BERT module) -> 'BertLMPredictionHead.bias'."""
    module = module_of(param_name)
    owner = model.get_submodule(module)
    if type(owner).__module__.startswith("torch.nn"):  # a Linear / LayerNorm / Embedding inside a BERT module
        parent, _, attribute = module.rpartition(".")
        return f"{type(model.get_submodule(parent)).__name__}.{attribute}"
    return f"{type(owner).__name__}.{param_name.rsplit('.', 1)[1]}"


def first_tensor(output):
    """The main tensor of a module's output: a tensor, a tuple's first tensor, a ModelOutput's first field."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "to_tuple"):
        output = output.to_tuple()
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


@torch.no_grad()
def module_outputs(model: torch.nn.Module, inputs: dict) -> dict[str, torch.Tensor]:
    """Run ``model(**inputs)`` and return {module name: the tensor that module returned}."""
    seen, handles = {}, []
    for name, module in model.named_modules():
        def hook(_module, _args, output, name=name):
            tensor = first_tensor(output)
            if tensor is not None:
                seen[name] = tensor.detach()
        handles.append(module.register_forward_hook(hook))
    try:
        model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def side_by_side(hf_model: torch.nn.Module, our_model: torch.nn.Module, inputs: dict) -> list[dict]:
    """One row per NAME_MAP row the model uses, comparing parameters and module outputs.

    Each row: parameters (the NAME_MAP pattern), transformers (the Class.attribute that holds it in
    ``hf_model``), bert_edu (the same in ``our_model``), documented (NAME_MAP's second column), notebook,
    n_tensors (concrete parameters covered), max_param_diff and max_output_diff (largest absolute
    difference of the weights, and of the module's output, over every layer). The ``n_tensors`` of the
    rows add up to the number of parameters of ``hf_model``: the map covers all of them.
    """
    hf_params = dict(hf_model.named_parameters())
    our_params = dict(our_model.named_parameters())
    mapping = map_parameters(hf_params)
    hf_out, our_out = module_outputs(hf_model, inputs), module_outputs(our_model, inputs)
    rows: dict[str, dict] = {}
    for name, (pattern, ours, _meaning) in mapping.items():
        module = module_of(name)
        row = rows.setdefault(pattern, {
            "parameters": pattern, "transformers": owner_name(hf_model, name),
            "bert_edu": owner_name(our_model, name), "documented": ours,
            "notebook": NOTEBOOK_OF.get(ours.split(".")[0], ""),
            "n_tensors": 0, "max_param_diff": 0.0, "max_output_diff": 0.0,
        })
        row["n_tensors"] += 1
        diff = (hf_params[name].detach() - our_params[name].detach()).abs().max().item()
        row["max_param_diff"] = max(row["max_param_diff"], diff)
        out_diff = (hf_out[module].float() - our_out[module].float()).abs().max().item()
        row["max_output_diff"] = max(row["max_output_diff"], out_diff)
    return list(rows.values())
