"""SFT on demonstrations (forward KL): the warm start of random-weight models, π_SFT, and the SFT baseline
(``optimizer.name=sft``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from dr_irl.config import policy_seed
from dr_irl.data.balance import repeat_benign
from dr_irl.data.schema import Record
from dr_irl.hf_trainer import (
    JsonlMetricsCallback,
    TrackerCallback,
    checkpoint_args,
    hardware_args,
    load_trainable_policy,
    lora_config,
    save_trained,
    seed_model_construction,
    train_resumable,
    use_compact_progress,
)
from dr_irl.pipeline import Context
from dr_irl.run_artifacts import init_policy_path, records
from dr_irl.training.methods import register_method


def sft_dataset(records: Sequence[Record]):
    """Prompt–completion conversations: the loss is on the demonstration only."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r.prompt}],
                "completion": [{"role": "assistant", "content": r.demonstration}],
            }
            for r in records
        ]
    )


def train_sft(
    model_path: str,
    records: Sequence[Record],
    out_dir: Path,
    sft_cfg: DictConfig,
    model_cfg: DictConfig,
    hardware: DictConfig,
    seed: int,
    report_to: str = "none",
    callbacks=(),
    benign_repeats: int = 1,
) -> dict:
    """Fine-tune ``model_path`` on the demonstrations of ``records``, each benign one ``benign_repeats`` times;
    save the model to ``out_dir/model``."""
    from trl import SFTConfig, SFTTrainer

    examples = repeat_benign(records, benign_repeats)
    seed_model_construction(seed)
    model, tokenizer = load_trainable_policy(model_path, model_cfg)
    args = SFTConfig(
        output_dir=str(out_dir / "trainer"),
        num_train_epochs=sft_cfg.epochs,
        max_steps=sft_cfg.get("max_steps", -1),  # > 0 overrides epochs (matched budgets across methods)
        learning_rate=sft_cfg.learning_rate,
        per_device_train_batch_size=sft_cfg.batch_size,
        max_length=sft_cfg.max_length,
        report_to=report_to,
        logging_steps=5,
        seed=seed,
        **checkpoint_args(sft_cfg),
        **hardware_args(hardware),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=sft_dataset(examples),
        processing_class=tokenizer,
        peft_config=lora_config(model_cfg.lora),
        callbacks=list(callbacks),
    )
    use_compact_progress(trainer, "SFT")
    result = train_resumable(trainer)
    save_trained(trainer, tokenizer, out_dir / "model")
    return {
        "train_loss": result.training_loss,
        "records": len(records),
        "benign_repeats": benign_repeats,
        "examples": len(examples),
    }


@register_method("sft")
def run_sft(ctx: Context, out: Path) -> dict:
    """SFT on every training demonstration (refusals and benign answers), each once (``optimizer.benign_repeats``
    is GRPO's prompt mix; the warm start and π_SFT have their own)."""
    cfg = ctx.cfg
    summary = train_sft(
        init_policy_path(ctx),
        records(ctx, "train"),
        out,
        cfg.optimizer,
        cfg.model,
        cfg.hardware,
        policy_seed(cfg),
        callbacks=[JsonlMetricsCallback(out / "train_log.jsonl"), TrackerCallback(ctx.tracker, ctx.stage)],
    )
    return {**summary, "model_path": "model", "responder": "greedy"}
