"""The stages of an experiment, in order, each reading and writing artifacts in the run directory.

A stage writes into ``stages/.<name>.tmp`` and is renamed to ``stages/<name>`` with a ``DONE.json`` marker
only when it finished, so a run directory never holds a half-written stage. A rerun (same run dir, which
the default ``run_name`` gives for the same model/optimizer/scaler/seed) skips every stage whose marker
carries the same fingerprint: the hash of the config keys the stage reads and of its inputs' fingerprints.
With ``stage_cache=true`` a stage another run finished with the same fingerprint is restored from the
shared stage cache (:mod:`dr_irl.stage_cache`) instead of recomputed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from dr_irl.distributed.deepspeed import zero3_init_disabled
from dr_irl.distributed.ranks import barrier, broadcast_from_main, is_main_process
from dr_irl.io import atomic_write_json, read_json
from dr_irl.stage_cache import StageCache

console = Console()


@dataclass(frozen=True)
class Stage:
    """A step of the pipeline: ``run(ctx, out_dir) -> summary``; ``keys`` are the config paths it reads."""

    name: str
    run: Callable[[Context, Path], dict[str, Any]]
    keys: tuple[str, ...] = ()
    deps: tuple[str, ...] | Callable[[DictConfig], tuple[str, ...]] = ()  # static, or chosen by the config
    enabled: Callable[[DictConfig], bool] = lambda cfg: True
    cached: bool = True  # False: always rerun (cheap reporting stages)
    all_ranks: bool = False  # True: every process runs it (distributed training); else rank 0, others wait


@dataclass
class Context:
    """What stages share: the config, the run dir, the tracker, and the finished stages' folders."""

    cfg: DictConfig
    run_dir: Path
    tracker: Any
    outputs: dict[str, Path] = field(default_factory=dict)
    summaries: dict[str, dict] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    def output(self, stage: str) -> Path:
        if stage not in self.outputs:
            raise KeyError(f"stage '{stage}' has not run (is it enabled?)")
        return self.outputs[stage]

    def memo(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]


def fingerprint(cfg: DictConfig, stage: Stage, dep_prints: dict[str, str]) -> str:
    selected = {
        key: OmegaConf.to_container(OmegaConf.select(cfg, key), resolve=True)
        if OmegaConf.is_config(OmegaConf.select(cfg, key))
        else OmegaConf.select(cfg, key)
        for key in stage.keys
    }
    payload = json.dumps(
        {"stage": stage.name, "config": selected, "deps": dep_prints}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_stages(stages: list[Stage], ctx: Context) -> dict[str, dict]:
    """Run (or resume) the enabled stages in order; returns every stage's summary.

    With several processes, rank 0 owns the run directory: it creates and publishes the stage folders
    and runs the single-process stages while the others wait; ``all_ranks`` stages run everywhere.
    """
    main = is_main_process()
    names = [s.name for s in stages]
    stop_after = ctx.cfg.get("stop_after")
    if stop_after is not None and stop_after not in names:
        raise ValueError(f"stop_after={stop_after!r} is not a stage; stages: {names}")
    stage_root = ctx.run_dir / "stages"
    stage_root.mkdir(parents=True, exist_ok=True)
    cache = StageCache(ctx.cfg.paths.stage_cache_dir) if ctx.cfg.get("stage_cache") else None
    prints: dict[str, str] = {}
    for stage in stages:
        if stop_after is not None and names.index(stage.name) > names.index(stop_after):
            break
        if not stage.enabled(ctx.cfg):
            continue
        deps = stage.deps(ctx.cfg) if callable(stage.deps) else stage.deps
        fp = fingerprint(ctx.cfg, stage, {d: prints[d] for d in deps if d in prints})
        prints[stage.name] = fp
        final = stage_root / stage.name
        marker = final / "DONE.json"
        # rank 0 decides (and restores) alone, every rank follows: they never disagree on a stage
        how = broadcast_from_main(_reuse(stage, fp, final, ctx.cfg.resume, cache) if main else None)
        if how != "run":
            barrier()
            ctx.outputs[stage.name] = final
            ctx.summaries[stage.name] = read_json(marker)["summary"]
            if main:
                where = (
                    f"complete in {final}, skipped (resume)"
                    if how == "resume"
                    else f"restored from the stage cache ({fp})"
                )
                console.print(f"[green]✓[/green] {stage.name}: {where}")
                ctx.tracker.summary(flat_numbers(ctx.summaries[stage.name], f"stages/{stage.name}"))
            if stage.name == stop_after:
                break
            continue
        tmp = stage_root / f".{stage.name}.tmp"
        if main:
            console.rule(f"[bold]{stage.name}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        barrier()
        ctx.outputs[stage.name] = tmp
        start = time.perf_counter()
        if stage.all_ranks:
            summary = stage.run(ctx, tmp) or {}
        elif main:  # rank 0 alone: models load whole, not ZeRO-3-partitioned (see zero3_init_disabled)
            with zero3_init_disabled():
                summary = stage.run(ctx, tmp) or {}
        else:
            summary = {}
        seconds = time.perf_counter() - start
        barrier()
        if main:
            atomic_write_json(tmp / "DONE.json", {"fingerprint": fp, "seconds": seconds, "summary": summary})
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            if stage.cached and cache is not None:
                cache.store(stage.name, fp, final)
            ctx.tracker.log({f"stage_seconds/{stage.name}": seconds})
            ctx.tracker.summary(flat_numbers(summary, f"stages/{stage.name}"))
            console.print(f"[green]✓[/green] {stage.name} done in {seconds:.1f}s")
        barrier()
        ctx.outputs[stage.name] = final
        ctx.summaries[stage.name] = read_json(marker)["summary"]
        if stage.name == stop_after:
            break
    return ctx.summaries


def _reuse(stage: Stage, fp: str, final: Path, resume: bool, cache: StageCache | None) -> str:
    """``resume`` (the run dir has the stage with this fingerprint), ``restore`` (copied from the stage
    cache just now) or ``run``. A failed restore (an entry removed meanwhile) falls back to running."""
    if not (stage.cached and resume):
        return "run"
    marker = final / "DONE.json"
    if marker.is_file() and read_json(marker).get("fingerprint") == fp:
        return "resume"
    if cache is not None and cache.has(stage.name, fp):
        try:
            cache.restore(stage.name, fp, final)
            return "restore"
        except OSError as err:
            console.print(f"[yellow]stage cache: could not restore {stage.name} ({err}); running it")
    return "run"


def flat_numbers(tree: dict, prefix: str) -> dict[str, float]:
    """``{"a": {"b": 1}}`` → ``{"prefix/a/b": 1}``, numbers only (what a tracker summary takes)."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat_numbers(value, f"{prefix}/{key}"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}/{key}"] = value
    return out
