"""Cost on paper (bert_edu.analysis.cost) and the intervals of notebook 12 (bert_edu.analysis.stats)."""

import math

import pytest
import torch

from bert_edu.analysis import cost, stats
from bert_edu.model.bert import BertModel
from bert_edu.model.config import SIZES, BertConfig


@pytest.mark.parametrize("size", ["tiny", "mini"])
def test_layer_parameters_count_the_encoder_layers_of_a_real_model(size):
    config = BertConfig(vocab_size=500, **SIZES[size])
    model = BertModel(config)
    in_layers = sum(p.numel() for p in model.encoder.parameters())
    assert cost.layer_parameters(cost.Shape.of(config)) == in_layers


def test_bert_base_numbers():
    shape = cost.Shape(**cost.BERT_BASE)
    assert round(cost.layer_parameters(shape) / 1e6, 1) == 85.1  # of BERT-base's 110 M; the rest: embeddings
    run = cost.run_flops(shape, cost.BERT_BASE_RUN["steps"], cost.BERT_BASE_RUN["batch_size"],
                         cost.BERT_BASE_RUN["phases"])
    # 1M steps x 256 sequences: 90% at 128 tokens, 10% at 512 tokens
    assert run["tokens"] == pytest.approx(256e6 * (0.9 * 128 + 0.1 * 512))
    per_token = cost.training_flops_per_token(shape, 128)
    assert per_token["layers"] == 6 * cost.layer_parameters(shape)
    assert per_token["attention"] == 12 * 12 * 768 * 128
    assert per_token["total"] == pytest.approx(sum(v for k, v in per_token.items() if k != "total"))
    assert 2e19 < run["flops"] < 3e19


def test_attention_share_grows_with_sequence_length():
    shape = cost.Shape(**cost.BERT_BASE)
    short, long = (cost.training_flops_per_token(shape, T) for T in (128, 512))
    assert long["attention"] == 4 * short["attention"] and long["layers"] == short["layers"]


def test_measurements_are_positive_and_in_order():
    assert cost.matmul_flops_per_second(n=64, repeats=3) > 0
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=2000, **SIZES["tiny"]))
    times = cost.latency_by_length(model, [8, 16], repeats=3)
    assert len(times) == 2 and min(times) > 0
    features = [{"input_ids": [2] + list(range(1000, 1000 + n)) + [3]} for n in (3, 5, 7)]
    assert cost.ms_per_sentence(model, features, repeats=2) > 0
    assert cost.model_bytes(model) > 4 * model.num_parameters()  # float32 weights, plus the file's overhead


def test_t_quantiles_and_intervals():
    assert stats.t_quantile_975(2) == pytest.approx(4.303, abs=1e-3)
    assert stats.t_quantile_975(20) == pytest.approx(2.086, abs=1e-3)
    assert stats.t_quantile_975(10_000) == pytest.approx(1.960, abs=1e-3)
    mean, half = stats.mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.3027 * 1.0 / math.sqrt(3), abs=1e-3)
    assert stats.format_interval([0.1, 0.2, 0.3], scale=100) == "20.0 +- 24.8"
    assert stats.excludes_zero([1.0, 1.1, 0.9]) and not stats.excludes_zero([1.0, -1.0, 0.5])
    with pytest.raises(ValueError, match="at least 2 values"):
        stats.mean_interval([1.0])
