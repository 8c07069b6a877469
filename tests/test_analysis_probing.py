"""Linear probes per layer (bert_edu.analysis.probing), on a small synthetic CoNLL-like fixture."""

import random

import pytest
import torch

from bert_edu.analysis import probing as P
from bert_edu.data.conll import Sentence
from bert_edu.model.bert import BertModel
from bert_edu.model.config import BertConfig
from bert_edu.text.tokenizer import BertTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "big", "small", "cat", "dog", "##s",
         "runs", "sleeps", "run", "sleep", "."]
POS = {"the": "DT", "a": "DT", "big": "JJ", "small": "JJ", "cat": "NN", "dog": "NN", "cats": "NNS",
       "dogs": "NNS", "runs": "VBZ", "sleeps": "VBZ", "run": "VBP", "sleep": "VBP", ".": "."}


def sentences(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        plural = rng.random() < 0.5
        words = [rng.choice(["the", "a"] if not plural else ["the"])]
        if rng.random() < 0.5:
            words.append(rng.choice(["big", "small"]))
        words.append(rng.choice(["cats", "dogs"] if plural else ["cat", "dog"]))
        words.append(rng.choice(["run", "sleep"] if plural else ["runs", "sleeps"]))
        words.append(".")
        pos = [POS[w] for w in words]
        out.append(Sentence(words, ["O"] * len(words), {"pos": pos, "chunk": ["O"] * len(words)}))
    return out


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=32)).eval()


def test_word_vectors_take_each_words_first_piece_in_every_layer(model, tokenizer):
    data = sentences(5, seed=0)
    vectors = P.word_vectors(model, tokenizer, data, batch_size=2)
    n_words = sum(len(s.words) for s in data)
    assert vectors.shape == (3, n_words, 32)  # embeddings + 2 layers
    # by hand for the first sentence: [CLS] pieces [SEP], first piece of each word
    enc = tokenizer(" ".join(data[0].words), return_tensors="pt")
    with torch.no_grad():
        hidden = torch.stack(model(**enc, output_hidden_states=True).hidden_states)[:, 0]
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    first = [i for i, p in enumerate(pieces) if p not in ("[CLS]", "[SEP]") and not p.startswith("##")]
    assert len(first) == len(data[0].words)
    torch.testing.assert_close(vectors[:, :len(first)], hidden[:, first])


def test_a_sentence_longer_than_max_length_keeps_a_vector_for_every_word(model, tokenizer):
    long = Sentence(["the", "cats"] * 6, ["O"] * 12, {"pos": ["DT", "NNS"] * 6})  # 18 pieces
    vectors = P.word_vectors(model, tokenizer, [long], max_length=8)
    assert vectors.shape == (3, 12, 32)


def test_word_tags_follow_the_words_and_need_the_column():
    data = sentences(3, seed=1)
    assert P.word_tags(data) == [t for s in data for t in s.pos]
    with pytest.raises(ValueError, match="four columns"):
        P.word_tags([Sentence(["a"], ["O"], {})])


def test_control_task_gives_each_word_type_one_tag_with_the_real_frequencies():
    words = ["The", "the", "cat", "dog", "runs"] * 200
    tags = ["DT", "DT", "NN", "NN", "VBZ"] * 200
    control = P.control_tags(words, tags, seed=0)
    assert set(control) == {"the", "cat", "dog", "runs"}  # one entry per lower-cased type
    assert set(control.values()) <= set(tags)
    assert control == P.control_tags(words, tags, seed=0)
    many = [P.control_tags([f"w{i}" for i in range(2000)], tags, seed=s) for s in range(2)]
    share = sum(t == "DT" for t in many[0].values()) / 2000
    assert abs(share - 0.4) < 0.05  # drawn with the real tags' frequencies (DT is 40% of them)
    assert many[0] != many[1]


def test_probe_separates_linearly_separable_classes():
    torch.manual_seed(0)
    centres = 4 * torch.randn(3, 10)
    y = torch.arange(300) % 3
    x = centres[y] + torch.randn(300, 10)
    assert P.probe_accuracy(x[:200], y[:200], x[200:], y[200:], 3) == 1.0
    shuffled = y[torch.randperm(300)]  # labels unrelated to the features: near chance
    assert P.probe_accuracy(x[:200], shuffled[:200], x[200:], shuffled[200:], 3) < 0.6


def test_probes_per_layer_on_the_fixture(model, tokenizer):
    train, test = sentences(60, seed=2), sentences(20, seed=3)
    tags = sorted(set(POS.values()))
    ids = {t: i for i, t in enumerate(tags)}
    y_train = torch.tensor([ids[t] for t in P.word_tags(train)])
    y_test = torch.tensor([ids[t] for t in P.word_tags(test)])
    accuracies = P.probe_layers(P.word_vectors(model, tokenizer, train), y_train,
                                P.word_vectors(model, tokenizer, test), y_test, len(tags))
    assert len(accuracies) == 3
    # every word type has one tag here, so even random weights make the tags linearly readable
    assert min(accuracies) > 0.9


def test_tag_baselines():
    base = P.tag_baselines(["the", "cat", "The", "run", "run"], ["DT", "NN", "DT", "VB", "NN"],
                           ["the", "run", "dog"], ["DT", "VB", "NN"])
    assert base["most frequent tag"] == pytest.approx(1 / 3)  # DT and NN tie at 2: DT, seen first
    # the -> DT (right), run -> VB (seen first of its tie; right), dog unseen -> DT (wrong)
    assert base["most frequent tag of the word"] == pytest.approx(2 / 3)


def test_sentence_vectors_are_each_layers_mean_over_real_tokens_whatever_the_padding(model, tokenizer):
    texts = ["the cat runs .", "a big dog sleeps .", "the small cats run ."]
    batched = P.sentence_vectors(model, tokenizer, texts, batch_size=3)  # padded to the longest
    assert batched.shape == (3, 3, 32)
    for i, text in enumerate(texts):  # one at a time: no padding at all
        enc = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = torch.stack(model(**enc, output_hidden_states=True).hidden_states)[:, 0]
        torch.testing.assert_close(batched[:, i], hidden.mean(1), atol=1e-5, rtol=1e-5)
