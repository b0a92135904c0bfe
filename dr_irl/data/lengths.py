"""Prompt lengths against the policy's context: a prompt that cannot fit fails naming its record.

The limit is ``dataset.max_prompt_tokens`` or, when that is unset, the model's context
(``max_position_embeddings``) minus the longest generation the run asks for (:data:`GENERATION_KEYS`).
A prompt is counted in tokens of the policy's chat template (as generation sees it). Too long: a
:class:`DataError` naming the record, the split and the source, or, with ``dataset.skip_invalid=true``,
the record is skipped and counted like any other invalid record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dr_irl.data.schema import DataError, Record

# the generation lengths a prompt must leave room for (and which the data stage's fingerprint includes)
GENERATION_KEYS = (
    "eval.max_new_tokens",
    "reward_model.sample_max_new_tokens",
    "optimizer.max_completion_length",
)


def model_context(model_path: str) -> int | None:
    """The model's context length in tokens (``max_position_embeddings``), or None when it has none."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    value = getattr(text, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def prompt_token_limit(cfg: DictConfig, model_path: str) -> tuple[int | None, str]:
    """(limit in tokens, where it comes from); (None, "") when the model states no context length."""
    explicit = cfg.dataset.get("max_prompt_tokens")
    if explicit:
        return int(explicit), f"dataset.max_prompt_tokens={explicit}"
    context = model_context(model_path)
    if context is None:
        return None, ""
    reserve = max(int(OmegaConf.select(cfg, key, default=0) or 0) for key in GENERATION_KEYS)
    return context - reserve, (
        f"the model's context of {context} tokens minus {reserve} generated tokens "
        "(set dataset.max_prompt_tokens to choose another limit)"
    )


def prompt_tokens(tokenizer, prompts: list[str]) -> list[int]:
    """Length of each prompt as the user turn of the chat template, generation prompt included."""
    if not prompts:
        return []
    if getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(
            [[{"role": "user", "content": p}] for p in prompts], add_generation_prompt=True, tokenize=True
        )
        ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    else:
        ids = tokenizer(prompts)["input_ids"]
    return [len(x) for x in ids]


def too_long(records: list[Record], tokenizer, limit: int) -> dict[str, int]:
    """Record id → prompt tokens of the records over ``limit``. Only prompts that might exceed it are
    tokenised: with the template's own tokens added, a prompt has at most twice its UTF-8 bytes in tokens."""
    overhead = prompt_tokens(tokenizer, [""])[0]
    suspects = [r for r in records if 2 * len(r.prompt.encode("utf-8")) + overhead > limit]
    counts = prompt_tokens(tokenizer, [r.prompt for r in suspects])
    return {r.id: n for r, n in zip(suspects, counts, strict=True) if n > limit}


def drop_long_prompts(
    loaded: Any, cfg: DictConfig, model_path: str, load_tokenizer: Callable[[], Any]
) -> Any:
    """The data source's result (``train``, ``heldout``, ``report``) without records whose prompt is over
    the limit when ``dataset.skip_invalid`` is set (counted in ``report["skipped_invalid"]`` and
    ``report["too_long"]``); a :class:`DataError` naming the first such record otherwise. ``load_tokenizer``
    gives the policy's tokenizer (called only when there is a limit)."""
    limit, source = prompt_token_limit(cfg, model_path)
    if limit is None:
        return loaded
    tokenizer = load_tokenizer()
    kept, dropped = {}, 0
    for split in ("train", "heldout"):
        records = getattr(loaded, split)
        over = too_long(records, tokenizer, limit)
        if over and not cfg.dataset.skip_invalid:
            record = next(r for r in records if r.id in over)
            copy = loaded.report.get("copy") or f"dataset.source={cfg.dataset.source}"
            raise DataError(
                f"{copy}: record '{record.id}' ({split} split): its prompt is {over[record.id]} tokens, over "
                f"{source}; shorten it, or set dataset.skip_invalid=true to skip such records"
            )
        kept[split] = [r for r in records if r.id not in over]
        dropped += len(over)
    if not dropped:
        return loaded
    report = dict(loaded.report)
    report["too_long"] = dropped
    report["skipped_invalid"] = report.get("skipped_invalid", 0) + dropped
    return replace(loaded, train=kept["train"], heldout=kept["heldout"], report=report)
