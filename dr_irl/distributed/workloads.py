"""What one optimizer step of each method processes and keeps loaded: the plan's numbers per step and the
batch shapes the memory estimate needs. One entry per ``optimizer.name``, reading the same config keys the
trainers read (``dr_irl/training/*.py``).

TRL semantics: ``per_device_train_batch_size`` is per process, so a step's rollouts (or pairs) grow with the
number of processes; GRPO generates ``per_device_train_batch_size × gradient_accumulation_steps`` completions
per process at once (TRL's ``steps_per_generation`` defaults to the accumulation steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from omegaconf import DictConfig

from dr_irl.registry import Registry

# Prompt tokens assumed per sequence (chat template included) when a length is needed before any data is
# read: the bundled prompts are 10-30 tokens, real safety prompts rarely pass 100.
PROMPT_TOKENS = 128


@dataclass(frozen=True)
class Workload:
    trains: bool  # False: nothing is optimised (Best-of-N)
    reference: bool  # a frozen reference policy sits next to the trained one
    reward_models: bool  # the run's reward models stay loaded while the policy trains or answers
    unit: str  # what a step is made of
    per_process: int  # units one process handles per optimizer step (accumulation included)
    detail: str  # how ``per_process`` is made up
    tokens_per_unit: int  # tokens of one unit at most (prompt + response; both sides of a pair)
    new_tokens_per_unit: int  # generated tokens of one unit at most (0: nothing generated per step)
    micro_sequences: int  # sequences in one forward/backward of one process
    sequence_tokens: int  # tokens of one such sequence at most
    generated_sequences: int  # sequences one process generates at once (its KV cache)
    generated_tokens: int  # length each of them may grow to


WORKLOADS: Registry[Callable[[DictConfig], Workload]] = Registry("optimizer.name")


@WORKLOADS.register("grpo")
def _grpo(cfg: DictConfig) -> Workload:
    opt = cfg.optimizer
    group = opt.prompts_per_step * opt.num_generations
    accumulation = opt.gradient_accumulation_steps
    length = PROMPT_TOKENS + opt.max_completion_length
    return Workload(
        trains=True,
        reference=opt.beta > 0,
        reward_models=True,
        unit="rollouts",
        per_process=group * accumulation,
        detail=(
            f"{opt.prompts_per_step} prompt{'s' if opt.prompts_per_step > 1 else ''} × "
            f"{opt.num_generations} generations"
            + (f" × {accumulation} accumulation steps" if accumulation > 1 else "")
        ),
        tokens_per_unit=length,
        new_tokens_per_unit=opt.max_completion_length,
        micro_sequences=group,
        sequence_tokens=length,
        generated_sequences=group * accumulation,
        generated_tokens=length,
    )


def _preference(cfg: DictConfig) -> Workload:
    opt = cfg.optimizer
    return Workload(
        trains=True,
        reference=True,
        reward_models=False,
        unit="preference pairs",
        per_process=opt.batch_size,
        detail=f"batch {opt.batch_size}",
        tokens_per_unit=2 * opt.max_length,
        new_tokens_per_unit=0,
        micro_sequences=2 * opt.batch_size,
        sequence_tokens=opt.max_length,
        generated_sequences=0,
        generated_tokens=0,
    )


for _name in ("dpo", "dpo_s", "rrm_dpo"):
    WORKLOADS.register(_name)(_preference)


@WORKLOADS.register("sft")
def _sft(cfg: DictConfig) -> Workload:
    opt = cfg.optimizer
    return Workload(
        trains=True,
        reference=False,
        reward_models=False,
        unit="sequences",
        per_process=opt.batch_size,
        detail=f"batch {opt.batch_size}",
        tokens_per_unit=opt.max_length,
        new_tokens_per_unit=0,
        micro_sequences=opt.batch_size,
        sequence_tokens=opt.max_length,
        generated_sequences=0,
        generated_tokens=0,
    )


@WORKLOADS.register("best_of_n")
def _best_of_n(cfg: DictConfig) -> Workload:
    opt, ev = cfg.optimizer, cfg.eval
    prompts = max(1, ev.batch_size // opt.n)
    return Workload(
        trains=False,
        reference=False,
        reward_models=True,
        unit="samples per evaluation prompt",
        per_process=opt.n,
        detail=f"N = {opt.n}, no training",
        tokens_per_unit=PROMPT_TOKENS + ev.max_new_tokens,
        new_tokens_per_unit=ev.max_new_tokens,
        micro_sequences=0,
        sequence_tokens=0,
        generated_sequences=prompts * opt.n,
        generated_tokens=PROMPT_TOKENS + ev.max_new_tokens,
    )


def workload(cfg: DictConfig) -> Workload:
    """The workload of ``optimizer.name``; a method without an entry is planned as an SFT step of
    ``optimizer.batch_size`` sequences of ``optimizer.max_length`` tokens (said in the plan's detail)."""
    name = cfg.optimizer.name
    if name in WORKLOADS:
        return WORKLOADS.get(name)(cfg)
    guess = _sft(cfg)
    return replace(guess, detail=f"{guess.detail} (no workload for optimizer.name={name}: planned as SFT)")
