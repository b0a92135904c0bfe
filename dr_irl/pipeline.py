"""The stages of an experiment, in order, each reading and writing artifacts in the run directory.

A stage writes into ``stages/.<name>.tmp`` and is published as ``stages/<name>`` with a ``DONE.json`` marker
only when it finished (the old folder is renamed aside before the new one is renamed in, so a failure never
loses both). ``DONE.json`` records the stage's fingerprint, summary, input files and the size and SHA-256 of
every file it wrote. A rerun (same run dir, which the default ``run_name`` gives for the same
model/optimizer/scaler/seed) skips every stage whose marker carries the same fingerprint and whose files
still match it; the fingerprint hashes the config keys the stage reads, the contents of the input files they
name (:mod:`dr_irl.artifacts`) and the contents of the stages it reads. A stage interrupted midway keeps its
``.tmp`` folder for the next run with the same fingerprint, so trainers resume from their last checkpoint.
With ``stage_cache=true`` a stage another run finished with the same fingerprint is restored from the
shared stage cache (:mod:`dr_irl.stage_cache`) instead of recomputed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from dr_irl.artifacts import input_hashes, manifest, output_digest, verify
from dr_irl.distributed.deepspeed import zero3_init_disabled
from dr_irl.distributed.ranks import barrier, broadcast_from_main, is_main_process
from dr_irl.io import atomic_write_json, read_json, remove_tree, replace_dir
from dr_irl.models.generation import GenerationStats, count_generation
from dr_irl.stage_cache import StageCache

console = Console()


@dataclass(frozen=True)
class Stage:
    """A step of the pipeline: ``run(ctx, out_dir) -> summary``; ``keys`` are the config paths it reads."""

    name: str
    run: Callable[[Context, Path], dict[str, Any]]
    keys: tuple[str, ...] | Callable[[DictConfig], tuple[str, ...]] = ()  # static, or chosen by the config
    deps: tuple[str, ...] | Callable[[DictConfig], tuple[str, ...]] = ()
    enabled: Callable[[DictConfig], bool] = lambda cfg: True
    cached: bool = True  # False: always rerun (cheap reporting stages)
    all_ranks: bool = False  # True: every process runs it (distributed training); else rank 0, others wait
    resumable: bool = False  # True: an interrupted run's folder is kept for the next (trainer checkpoints)


@dataclass
class Context:
    """What stages share: the config, the run dir, the tracker, and the finished stages' folders."""

    cfg: DictConfig
    run_dir: Path
    tracker: Any
    outputs: dict[str, Path] = field(default_factory=dict)
    summaries: dict[str, dict] = field(default_factory=dict)
    memos: dict[str, Any] = field(default_factory=dict)  # what the run-directory accessors computed once
    stage: str = ""  # the stage running now: its trainers log their metrics under this name

    def output(self, stage: str) -> Path:
        if stage not in self.outputs:
            raise KeyError(f"stage '{stage}' has not run (is it enabled?)")
        return self.outputs[stage]

    def memo(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self.memos:
            self.memos[key] = build()
        return self.memos[key]


RESUME_NEUTRAL = frozenset({"save_steps", "save_total_limit"})  # how often to checkpoint: not the result
# Fields added to a group after runs existed: hashed only away from their default, so that the stages of those
# runs (and the stage cache) keep their fingerprints — {(config key a stage reads, field): default}.
HASHED_UNLESS_DEFAULT = {("warm_start", "benign_repeats"): 1, ("sft_policy", "benign_repeats"): 1}


def _without_neutral(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_neutral(v) for k, v in value.items() if k not in RESUME_NEUTRAL}
    if isinstance(value, list):
        return [_without_neutral(v) for v in value]
    return value


def _without_defaults(key: str, value: Any) -> Any:
    """``value`` (the config under ``key``) without the :data:`HASHED_UNLESS_DEFAULT` fields at their default."""
    if not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if HASHED_UNLESS_DEFAULT.get((key, k), object()) != v}


def _canonical_seed(key: str, value: Any, cfg: DictConfig) -> Any:
    """``optimizer.seed`` equal to the run's ``seed`` hashed as unset (None): both train the same policy."""
    if key == "optimizer" and isinstance(value, dict) and value.get("seed") is not None:
        if value["seed"] == OmegaConf.select(cfg, "seed"):
            return {**value, "seed": None}
    return value


def stage_keys(stage: Stage, cfg: DictConfig) -> tuple[str, ...]:
    """The config paths ``stage`` reads under ``cfg``."""
    return stage.keys(cfg) if callable(stage.keys) else stage.keys


def stage_deps(stage: Stage, cfg: DictConfig) -> tuple[str, ...]:
    """The stages ``stage`` reads under ``cfg``."""
    return stage.deps(cfg) if callable(stage.deps) else stage.deps


def fingerprint(
    cfg: DictConfig, stage: Stage, dep_prints: dict[str, str], inputs: dict[str, dict] | None = None
) -> str:
    """Hash of the config keys ``stage`` reads, the digests of the stages it reads and its input files."""
    selected = {
        key: _canonical_seed(
            key,
            _without_defaults(
                key, _without_neutral(OmegaConf.to_container(OmegaConf.select(cfg, key), resolve=True))
            ),
            cfg,
        )
        if OmegaConf.is_config(OmegaConf.select(cfg, key))
        else OmegaConf.select(cfg, key)
        for key in stage_keys(stage, cfg)
    }
    payload = {"stage": stage.name, "config": selected, "deps": dep_prints}
    if inputs:
        payload["inputs"] = {key: entry["sha256"] for key, entry in inputs.items()}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_stages(stages: list[Stage], ctx: Context) -> dict[str, dict]:
    """Run (or resume) the enabled stages in order; returns every stage's summary.

    With several processes, rank 0 owns the run directory: it decides what to rerun, creates and publishes
    the stage folders and runs the single-process stages while the others wait; ``all_ranks`` stages run
    everywhere.
    """
    main = is_main_process()
    names = [s.name for s in stages]
    stop_after = ctx.cfg.get("stop_after")
    if stop_after is not None and stop_after not in names:
        raise ValueError(f"stop_after={stop_after!r} is not a stage; stages: {names}")
    stage_root = ctx.run_dir / "stages"
    stage_root.mkdir(parents=True, exist_ok=True)
    cache = StageCache(ctx.cfg.paths.stage_cache_dir) if ctx.cfg.get("stage_cache") else None
    digests: dict[str, str] = {}  # stage -> digest of its files and summary (what its readers depend on)
    for stage in stages:
        if stop_after is not None and names.index(stage.name) > names.index(stop_after):
            break
        if not stage.enabled(ctx.cfg):
            continue
        deps = stage_deps(stage, ctx.cfg)
        final = stage_root / stage.name
        tmp = stage_root / f".{stage.name}.tmp"
        decision = None
        if main:  # rank 0 decides (and restores) alone, every rank follows: they never disagree on a stage
            inputs = input_hashes(ctx.cfg, stage_keys(stage, ctx.cfg))
            fp = fingerprint(ctx.cfg, stage, {d: digests[d] for d in deps if d in digests}, inputs)
            decision = (_reuse(stage, fp, final, tmp, inputs, ctx.cfg.resume, cache), fp, inputs)
        how, fp, inputs = broadcast_from_main(decision)
        if how != "run":
            barrier()
            done = read_json(final / "DONE.json")
            ctx.outputs[stage.name] = final
            ctx.summaries[stage.name] = done["summary"]
            digests[stage.name] = done["digest"]
            if main:
                where = {
                    "resume": f"complete in {final}, skipped (resume)",
                    "restore": f"restored from the stage cache ({fp})",
                    "adopt": f"finished before the previous run stopped; published to {final}",
                }[how]
                console.print(f"[green]✓[/green] {stage.name}: {where}", soft_wrap=True)
                ctx.tracker.summary(flat_numbers(ctx.summaries[stage.name], f"stages/{stage.name}"))
            if stage.name == stop_after:
                break
            continue
        if main:
            console.rule(f"[bold]{stage.name}")
            _prepare_tmp(stage, tmp, fp, ctx.cfg.resume)
        barrier()
        ctx.outputs[stage.name] = tmp
        ctx.stage = stage.name
        start = time.perf_counter()
        with count_generation() as generated:
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
            _publish(stage, tmp, final, fp, inputs, seconds, summary, generated)
            if stage.cached and cache is not None:
                cache.store(stage.name, fp, final)
            ctx.tracker.log({f"stage_seconds/{stage.name}": seconds})
            ctx.tracker.summary(flat_numbers(summary, f"stages/{stage.name}"))
            console.print(f"[green]✓[/green] {stage.name} done in {seconds:.1f}s")
        barrier()
        done = read_json(final / "DONE.json")
        ctx.outputs[stage.name] = final
        ctx.summaries[stage.name] = done["summary"]
        digests[stage.name] = done["digest"]
        if stage.name == stop_after:
            break
    return ctx.summaries


def _warn(message: str) -> None:
    """A message naming files: not wrapped (paths stay whole), brackets in paths not read as markup."""
    console.print(message, style="yellow", markup=False, highlight=False, soft_wrap=True)


def read_marker(path: Path) -> dict | None:
    """A stage's ``DONE.json``, or None (with a warning naming the file) when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        done = read_json(path)
        if isinstance(done, dict) and isinstance(done.get("artifacts"), dict) and "digest" in done:
            return done
        problem = "not a stage record with a list of its files (an older version's?)"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        problem = f"unreadable: {err}"
    _warn(f"{path} is {problem}: the stage is treated as not done")
    return None


def _check(stage: Stage, folder: Path, done: dict, what: str) -> bool:
    """Whether ``folder``'s files still match ``done``; a warning names the first files that do not."""
    problems, moved = verify(folder, done["artifacts"])
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        _warn(f"{stage.name}: {problems[0]}{more}; {what}")
        return False
    if moved:  # copied or restored with new mtimes, same content: record the mtimes to skip re-hashing
        atomic_write_json(folder / "DONE.json", {**done, "artifacts": manifest(folder)})
    return True


def _changed_inputs(old: dict, inputs: dict[str, dict]) -> list[str]:
    before = old.get("inputs") or {}
    return [
        f"{key} ({entry['path']})"
        for key, entry in inputs.items()
        if key in before and before[key].get("sha256") != entry["sha256"]
    ]


def _reuse(
    stage: Stage,
    fp: str,
    final: Path,
    tmp: Path,
    inputs: dict[str, dict],
    resume: bool,
    cache: StageCache | None,
) -> str:
    """``resume`` (the run dir has the stage with this fingerprint, its files intact), ``adopt`` (the stage
    finished but the previous run stopped before publishing it: published now), ``restore`` (copied from the
    stage cache just now) or ``run``. A failed restore (an entry removed meanwhile) falls back to running."""
    if not (stage.cached and resume):
        return "run"
    done = read_marker(final / "DONE.json")
    if done is not None:
        if done.get("fingerprint") == fp:
            if _check(stage, final, done, "running the stage again"):
                return "resume"
        else:
            changed = _changed_inputs(done, inputs)
            if changed:
                _warn(f"{stage.name}: {', '.join(changed)} changed since the stage ran; running it again")
    finished = read_marker(tmp / "DONE.json")
    if (
        finished is not None
        and finished.get("fingerprint") == fp
        and _check(stage, tmp, finished, "rerunning")
    ):
        replace_dir(tmp, final)
        return "adopt"
    if cache is not None and cache.has(stage.name, fp):
        try:
            cache.restore(stage.name, fp, final)
            restored = read_marker(final / "DONE.json")
            if restored is not None and _check(stage, final, restored, "the cache entry is damaged; running"):
                return "restore"
        except OSError as err:
            _warn(f"stage cache: could not restore {stage.name} ({err}); running it")
    return "run"


def _prepare_tmp(stage: Stage, tmp: Path, fp: str, resume: bool) -> None:
    """Keep the unfinished folder of an interrupted run of this very stage (same fingerprint, ``resume``):
    its trainers resume from their checkpoints; start from an empty folder otherwise."""
    started = tmp / "STARTED.json"
    if resume and stage.cached and stage.resumable and started.is_file():
        try:
            same = read_json(started).get("fingerprint") == fp
        except (OSError, ValueError, AttributeError):
            same = False
        if same:
            (tmp / "DONE.json").unlink(missing_ok=True)
            console.print(
                f"{stage.name}: continuing the interrupted run of this stage in {tmp}",
                markup=False,
                soft_wrap=True,
            )
            return
    if tmp.exists():
        remove_tree(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    atomic_write_json(started, {"fingerprint": fp})


def _publish(
    stage: Stage,
    tmp: Path,
    final: Path,
    fp: str,
    inputs: dict,
    seconds: float,
    summary: dict,
    generated: GenerationStats | None = None,
) -> None:
    """Write ``DONE.json`` (fingerprint, seconds, summary, inputs, every file's size and hash, and what the
    stage generated through :func:`~dr_irl.models.generation.generate_responses`) and publish the folder."""
    (tmp / "STARTED.json").unlink(missing_ok=True)
    files = manifest(tmp)
    summary = json.loads(json.dumps(summary, default=str))  # as readers will see it
    done = {
        "fingerprint": fp,
        "seconds": seconds,
        "generation": (
            {"new_tokens": generated.new_tokens, "seconds": generated.seconds}
            if generated is not None and generated.calls
            else {}
        ),
        "summary": summary,
        "inputs": inputs,
        "artifacts": files,
        "digest": output_digest(files, summary),
    }
    atomic_write_json(tmp / "DONE.json", done)
    replace_dir(tmp, final)


def flat_numbers(tree: dict, prefix: str) -> dict[str, float]:
    """``{"a": {"b": 1}}`` → ``{"prefix/a/b": 1}``, numbers only (what a tracker summary takes)."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat_numbers(value, f"{prefix}/{key}"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}/{key}"] = value
    return out
