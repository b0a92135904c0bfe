"""Loading policies, reference models and tokenizers: every model, hub or local, through from_pretrained."""

from dr_irl.models.loading import load_causal_lm, load_tokenizer
from dr_irl.models.weights import ModelUnavailableError, resolve_model_path

__all__ = ["ModelUnavailableError", "load_causal_lm", "load_tokenizer", "resolve_model_path"]
