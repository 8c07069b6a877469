"""The one fine-tuning loop (bert_edu.train.loop.fit) and the four trainers built on it: classification, NER,
QA and distillation. Each trainer's evaluation runs with the training's ``mixed_precision`` (NER and QA used
to evaluate with the default "auto" whatever was asked); on a CPU that is seen in the argument every autocast
of the evaluation receives, on a CUDA GPU in the autocast state inside the model's forward pass."""

import random

import pytest
import torch

from bert_edu import BertConfig
from bert_edu.analysis import distillation
from bert_edu.data.assets import minilm_path
from bert_edu.data.classification import Example
from bert_edu.data.conll import Sentence, encode_sentences
from bert_edu.data.squad import SquadExample, tokenize_windows, train_features
from bert_edu.model.heads import BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification
from bert_edu.train import classify, common, loop, ner, qa

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NAMES, PLACES = ["alice", "bob", "carol"], ["paris", "rome", "oslo"]


@pytest.fixture(scope="module")
def tokenizer():
    return common.load_tokenizer(minilm_path())


def tiny(head, tokenizer, **labels):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, **labels)
    return head(config)


def classification_data(tokenizer):
    rng = random.Random(0)
    words = {1: ["great", "fine", "lovely"], 0: ["awful", "dull", "bad"]}
    examples = [Example(f"a {rng.choice(words[y])} film", y) for y in [0, 1] * 12]
    return classify.encode(tokenizer, examples)


def ner_data(tokenizer):
    sentences = [Sentence([NAMES[i % 3], "went", "to", PLACES[i % 3]], ["B-PER", "O", "O", "B-LOC"])
                 for i in range(12)]
    return sentences, encode_sentences(tokenizer, sentences, {t: i for i, t in enumerate(TAGS)})


def qa_data(tokenizer):
    examples = [SquadExample(str(i), f"Where did {NAMES[i % 3]} go?",
                             f"{NAMES[i % 3].title()} went to {PLACES[i % 3].title()}.", [PLACES[i % 3].title()],
                             [len(NAMES[i % 3]) + 9]) for i in range(12)]
    return examples, train_features(tokenizer, examples, 64, 16), tokenize_windows(tokenizer, examples, 64, 16)


def run_trainer(name, tokenizer, mixed_precision, device="cpu"):
    """Train one of the four trainers for 2 epochs on a tiny model; returns the model."""
    kw = dict(epochs=2, lr=1e-3, batch_size=8, device=device, mixed_precision=mixed_precision)
    if name == "classification":
        model, features = tiny(BertForSequenceClassification, tokenizer, num_labels=2), classification_data(tokenizer)
        classify.train_classifier(model, features, features[:8], progress=False, log=None, **kw)
    elif name == "ner":
        model = tiny(BertForTokenClassification, tokenizer, **common.label_maps(TAGS))
        sentences, features = ner_data(tokenizer)
        ner.train_tagger(model, features, sentences, features, progress=False, log=None, **kw)
    elif name == "qa":
        model = tiny(BertForQuestionAnswering, tokenizer, num_labels=2)
        examples, features, windows = qa_data(tokenizer)
        qa.train_qa(model, features, examples, windows, progress=False, log=None, **kw)
    else:
        model, features = tiny(BertForSequenceClassification, tokenizer, num_labels=2), classification_data(tokenizer)
        soft = torch.randn(len(features), 2)
        distillation.train_student(model, features, soft, eval_features=features[:8], seed=0, **kw)
    return model


TRAINERS = ["classification", "ner", "qa", "distillation"]


@pytest.mark.parametrize("trainer", TRAINERS)
def test_evaluation_gets_the_training_precision(trainer, tokenizer, monkeypatch):
    seen = []  # (mixed_precision asked, in evaluation?) for every autocast: evaluation runs without gradients
    real = common.autocast

    def recording(device, mixed_precision="auto"):
        seen.append((mixed_precision, not torch.is_grad_enabled()))
        return real(device, mixed_precision)

    monkeypatch.setattr(common, "autocast", recording)
    run_trainer(trainer, tokenizer, "no")
    in_evaluation = [mp for mp, evaluating in seen if evaluating]
    assert len(in_evaluation) >= 2, "the evaluation of every epoch goes through common.autocast"
    assert set(in_evaluation) == {"no"}, f"evaluation ran with {set(in_evaluation)}, training with 'no'"
    assert {mp for mp, evaluating in seen if not evaluating} == {"no"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("mixed_precision", ["no", "auto"])
def test_on_a_gpu_evaluation_autocasts_as_training_does(trainer, mixed_precision, tokenizer, monkeypatch):
    states = {True: set(), False: set()}  # training? -> autocast enabled in the forward pass
    original = torch.nn.Module.__call__

    def forward_recorder(module, *args, **kwargs):
        if hasattr(module, "bert") and hasattr(module, "config"):
            states[module.training].add(torch.is_autocast_enabled("cuda"))
        return original(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", forward_recorder)
    run_trainer(trainer, tokenizer, mixed_precision, device="cuda")
    assert states[True] == states[False] == {mixed_precision == "auto"}, states


def test_fit_checks_the_inputs_of_the_first_batch_only_and_keeps_the_best_epoch(tokenizer):
    model, features = tiny(BertForSequenceClassification, tokenizer, num_labels=2), classification_data(tokenizer)
    checks_on, scripted, calls = [], iter([0.2, 0.7, 0.5]), []

    def loss_fn(model, batch, idx):
        checks_on.append(model.bert.check_inputs)
        return model(**batch).loss

    def evaluate(model, device, mixed_precision):
        calls.append((str(device), mixed_precision))
        return {"accuracy": next(scripted), "probs": torch.zeros(3)}

    result = loop.fit(model, features, lambda fs: classify.collate(fs, 0), evaluate=evaluate, epochs=3, lr=1e-3,
                      batch_size=8, device="cpu", progress=False, log=None, loss_fn=loss_fn, mixed_precision="no")
    assert checks_on[0] is True and not any(checks_on[1:]), "only the first batch is checked"
    assert model.bert.check_inputs is True, "the trained model checks its inputs again"
    assert calls == [("cpu", "no")] * 3
    assert result.best_epoch == 2 and result.best == {"accuracy": 0.7}, "per-example tensors are not kept"
    assert [row["eval_accuracy"] for row in result.history] == [0.2, 0.7, 0.5]
    assert result.steps == len(result.losses) == 9 and result.train_examples == len(features)


def test_fit_without_evaluation_keeps_the_last_weights(tokenizer):
    model, features = tiny(BertForSequenceClassification, tokenizer, num_labels=2), classification_data(tokenizer)
    result = loop.fit(model, features, lambda fs: classify.collate(fs, 0), epochs=2, lr=1e-3, batch_size=8,
                      bucket=False, device="cpu", progress=False, log=None)
    assert result.best_epoch == 0 and result.best == {} and len(result.history) == 2
    with pytest.raises(ValueError, match="at least one training example"):
        loop.fit(model, [], lambda fs: fs, epochs=1, lr=1e-3, batch_size=8, log=None)


def test_one_build_model_for_every_head(tokenizer, tmp_path):
    for head, labels in [(BertForSequenceClassification, ["neg", "pos"]), (BertForTokenClassification, TAGS),
                         (BertForQuestionAnswering, 2)]:
        model, tok = common.build_model(head, "scratch", labels, size="tiny")
        assert type(model) is head and model.config.hidden_size == 128 and tok.vocab_size == tokenizer.vocab_size
        out = common.save_folder(model, tok, tmp_path / head.__name__)
        again, _ = common.build_model(head.__name__, str(out), labels, verbose=False)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        common.build_model(BertForSequenceClassification, str(tmp_path), ["a", "b"])
    with pytest.raises(ValueError, match="unknown size"):
        common.build_model(BertForSequenceClassification, "scratch", ["a", "b"], size="huge")


def test_the_old_names_are_the_shared_pieces():
    from bert_edu.data import batching
    from bert_edu.evaluation import baselines
    from bert_edu.train import finetune

    assert finetune is classify
    assert classify.collate is batching.collate and classify.bucketed_batches is batching.bucketed_batches
    assert classify.save_classifier is ner.save_model is qa.save_qa_model is common.save_folder
    assert classify.majority_baseline is baselines.majority_baseline
    assert ner.most_frequent_tag_baseline is baselines.most_frequent_tag_baseline
    from bert_edu.train import baselines as old_bow, qa_baseline as old_qa

    assert old_bow is baselines and old_qa is baselines
