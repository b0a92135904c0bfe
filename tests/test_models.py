"""Model sources: the tiny model goes through save_pretrained / from_pretrained like any hub model."""

import pytest
import torch
from omegaconf import OmegaConf

from dr_irl.models import ModelUnavailableError, load_causal_lm, load_tokenizer, resolve_model_path
from dr_irl.models.generation import generate_responses
from dr_irl.models.weights import resolve_hub_path


def test_tiny_model_saves_and_loads_through_from_pretrained(tmp_path, compose_cfg):
    cfg = compose_cfg(["model=tiny"])
    path = resolve_model_path(cfg.model, tmp_path)
    assert (tmp_path / "models").is_dir() and path.startswith(str(tmp_path))
    assert resolve_model_path(cfg.model, tmp_path) == path  # built once, then reused
    tokenizer = load_tokenizer(path)
    model = load_causal_lm(path)
    assert model.config.num_hidden_layers == cfg.model.tiny.num_layers
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hello"}], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert len(ids) > 2 and tokenizer.pad_token is not None
    torch.manual_seed(0)
    out = generate_responses(model, tokenizer, ["How do I bake bread?", "hi"], max_new_tokens=5, batch_size=2)
    assert len(out) == 2 and all(isinstance(o[0], str) for o in out)
    # a local folder is a valid hub path: the same code path users take with their own checkpoints
    hub_cfg = OmegaConf.create({"source": "hub", "path": path, "revision": None})
    assert resolve_model_path(hub_cfg, tmp_path) == path


def test_missing_hub_model_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as err:
        resolve_hub_path("meta-llama/Meta-Llama-3-8B-Instruct", None, "model.path")
    assert "model.path" in str(err.value) and "huggingface-cli download" in str(err.value)
    with pytest.raises(ModelUnavailableError, match="no such folder"):
        resolve_hub_path("/does/not/exist", None, "model.path")
