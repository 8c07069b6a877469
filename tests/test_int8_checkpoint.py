"""bert_edu.model.int8: per-row symmetric int8 checkpoints, and the dequantising loader."""

import json

import pytest
import torch

from bert_edu.model import int8


def test_per_row_quantisation_error_is_at_most_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(64, 48) * torch.linspace(0.01, 3, 64)[:, None]  # rows of very different scales
    q = int8.quantize_state_dict({"w": w, "b": torch.randn(48), "ids": torch.arange(3)})
    assert q["w"].dtype == torch.int8 and q["w.int8_scale"].shape == (64,)
    assert q["b"].dtype == torch.float32 and q["ids"].dtype == torch.int64
    back = int8.dequantize_state_dict(q)
    assert set(back) == {"w", "b", "ids"}
    step = (w.abs().amax(1) / 127)[:, None]
    assert ((back["w"] - w).abs() <= step / 2 + 1e-7).all()
    assert torch.equal(back["b"], q["b"])


def test_an_all_zero_row_stays_zero():
    q = int8.quantize_state_dict({"w": torch.zeros(2, 4)})
    assert torch.equal(int8.dequantize_state_dict(q)["w"], torch.zeros(2, 4))


def test_folder_round_trip_loads_as_a_checkpoint(tmp_path):
    from bert_edu import BertConfig
    from bert_edu.model.heads import BertForQuestionAnswering

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    model = BertForQuestionAnswering(config).eval()
    model.save_pretrained(tmp_path / "fp32")
    path = int8.quantize_folder(tmp_path / "fp32", tmp_path / "int8")
    assert (tmp_path / "int8" / "config.json").is_file()
    assert path.stat().st_size < 0.6 * (tmp_path / "fp32" / int8.WEIGHTS_NAME).stat().st_size
    info = int8.describe(tmp_path / "int8")
    assert info["sha256"] == int8.sha256_file(path) and len(info["sha256"]) == 64
    int8.dequantize_folder(tmp_path / "int8", tmp_path / "back")
    loaded = BertForQuestionAnswering.from_pretrained(tmp_path / "back", verbose=False).eval()
    ids = torch.randint(5, 50, (2, 12))
    with torch.no_grad():
        a, b = model(input_ids=ids), loaded(input_ids=ids)
    assert (a.start_logits - b.start_logits).abs().max() < 0.05


def test_a_file_of_another_format_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2, 2)}, str(tmp_path / int8.INT8_WEIGHTS_NAME), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a bert-edu-int8"):
        int8.load_int8_state_dict(tmp_path)
    with pytest.raises(FileNotFoundError, match="quantize_folder"):
        int8.load_int8_state_dict(tmp_path / "nothing")


def test_a_file_with_another_sha256_is_refused(tmp_path):
    from bert_edu import BertConfig
    from bert_edu.model.heads import BertForQuestionAnswering

    config = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16)
    BertForQuestionAnswering(config).save_pretrained(tmp_path / "fp32")
    path = int8.quantize_folder(tmp_path / "fp32", tmp_path / "int8")
    good = int8.sha256_file(path)
    int8.dequantize_folder(tmp_path / "int8", tmp_path / "ok", expected_sha256=good)  # the right hash loads
    with pytest.raises(ValueError, match="sha256 is not the one"):
        int8.dequantize_folder(tmp_path / "int8", tmp_path / "bad", expected_sha256="0" * 64)
    assert not (tmp_path / "bad").exists()  # nothing half-written
