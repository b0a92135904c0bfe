"""What ``train.py`` does before any stage: resolve ``hardware=auto`` / ``recipe=auto``, print the plan, stop
there with ``plan_only=true``.

A single run is resolved before Hydra starts (:func:`preflight`): the resolved options are appended to the
command line, so ``--cfg job`` prints them, the run's ``.hydra/overrides.yaml`` records them and relaunched
ranks inherit them. A multirun job is resolved inside the job (:func:`prepare_job`), recomposed with Hydra's
compose API, since each job may pick another model.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from dr_irl.distributed.auto import Composer, HardwareUnfitError, Resolution, resolve
from dr_irl.distributed.machine import Machine, probe_machine, simulated_machine
from dr_irl.errors import UserError

AUTO_CHOICES = ("hardware=auto", "recipe=auto")


def override_keys(overrides: list[str]) -> set[str]:
    """The config keys (and groups) named by command-line overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return {o.key_or_group for o in OverridesParser.create().parse_overrides(overrides)}


def composer(overrides: list[str], config_name: str = "config") -> Composer:
    """extra overrides → the config ``overrides + extra`` composes to (Hydra must be initialised)."""
    from hydra import compose

    base = [o for o in overrides if o not in AUTO_CHOICES]
    return lambda extra: compose(config_name=config_name, overrides=[*base, *extra])


def machine_for(cfg: DictConfig) -> Machine:
    """This machine, or the one ``plan_machine`` describes."""
    return simulated_machine(cfg.plan_machine) if cfg.get("plan_machine") else probe_machine()


def is_top_process() -> bool:
    """Not one of the ranks that train.py (or torchrun) started: those stay quiet."""
    return "LOCAL_RANK" not in os.environ


def announce(resolution: Resolution, stream=None) -> None:
    if is_top_process():
        for line in resolution.lines:
            print(line, file=stream or sys.stdout, flush=True)


def _resolve(overrides: list[str], config_name: str, for_cfg_print: bool) -> Resolution:
    compose = composer(overrides, config_name)
    base = compose([])
    if not for_cfg_print:  # before the hardware is resolved: its memory estimate reads these values
        check_config(base)
    if base.get("plan_machine") and not (base.plan_only or for_cfg_print):
        raise HardwareUnfitError(
            f"plan_machine={base.plan_machine} plans for another machine: use it with plan_only=true (or --cfg)",
            [],
        )
    machine = machine_for(base)
    try:
        return resolve(compose, machine, override_keys(overrides))
    except HardwareUnfitError as err:
        if not for_cfg_print or not err.fallback:
            raise
        print(f"warning: {err}", file=sys.stderr)  # --cfg still shows what auto would pick
        extra = err.fallback
        return Resolution(
            extra, compose(extra), machine, [f"hardware=auto → {extra[0].split('=')[1]} (a run stops)"]
        )


# names a user may type for a config group: ``method=dpo`` is ``optimizer=dpo`` (the group picks the
# alignment method; its historical name ``optimizer`` stays the one in the config and the run names)
GROUP_ALIASES = {"method": "optimizer"}
_ALIAS_RE = re.compile(r"^(?P<prefix>[+~]{0,2})(?P<group>\w+)(?P<rest>[.=@].*)?$")


def apply_group_aliases(argv: list[str]) -> list[str]:
    """``argv`` with every override of an aliased group (``method=…``, ``method.beta=…``, ``+method.x=…``,
    ``~method.x``) spelled with the group's config name; flags and other overrides unchanged."""
    out = [argv[0]]
    for arg in argv[1:]:
        match = _ALIAS_RE.match(arg)
        if match and match["group"] in GROUP_ALIASES and (match["rest"] or match["prefix"] == "~"):
            arg = f"{match['prefix']}{GROUP_ALIASES[match['group']]}{match['rest'] or ''}"
        out.append(arg)
    return out


def preflight(argv: list[str], conf_dir: str | Path) -> list[str]:
    """``argv`` with the resolved options of a single run appended (multirun and help: unchanged).

    ``plan_only=true`` prints the plan here and exits; a run that cannot start exits with one ``error:`` line.
    """
    from hydra import initialize_config_dir
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv[1:])
    elsewhere = args.config_path or args.config_dir or args.experimental_rerun  # prepare_job resolves those
    if args.multirun or args.help or args.hydra_help or args.shell_completion or args.info or elsewhere:
        return argv
    for_cfg_print = bool(args.cfg)
    config_name = args.config_name or "config"
    with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base="1.3"):
        try:
            resolution = _resolve(list(args.overrides), config_name, for_cfg_print)
            if not for_cfg_print:  # --cfg shows any config; a run (or its plan) starts from a valid one
                check_config(resolution.cfg)
            if resolution.cfg.plan_only and not for_cfg_print:  # the plan shows the resolution
                from dr_irl.plan import build_plan

                print(build_plan(resolution.cfg, resolution.machine, resolution.lines).render(), flush=True)
                raise SystemExit(0)
            announce(resolution, sys.stderr if for_cfg_print else sys.stdout)
        except (HardwareUnfitError, UserError, HydraException, OmegaConfBaseException) as err:
            if _keep_traceback(args.overrides):
                raise
            message = str(err) if isinstance(err, UserError) else config_error_message(err)
            print(f"error: {message}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
    # first, not last: argparse takes the overrides as one run of positionals, before or after the flags
    return [argv[0], *resolution.overrides, *(a for a in argv[1:] if a not in AUTO_CHOICES)]


def check_config(cfg: DictConfig) -> None:
    """The start-up checks of a composed config, before its plan: keys the schema does not declare and values
    out of range (:func:`dr_irl.validation.validate`), unless the combination is one a sweep skips (the run
    says so itself)."""
    from dr_irl.cli import invalid_combination
    from dr_irl.validation import validate

    if invalid_combination(cfg) is None:
        validate(cfg)


def config_error_message(err: Exception) -> str:
    """One line for a command line that does not compose: the key and the settings there (a misspelt key),
    the value and the type it needs (a wrong type), or the options of the group (a misspelt option)."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from dr_irl.schema_keys import schema_settings, unknown_key_message

    text, cause = str(err), err.__cause__
    override = re.match(r"Could not override '([^']+)'", text)
    if override and isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        key = override.group(1)
        group, _, name = key.rpartition(".")
        inner = getattr(cause, "key", None)
        if name in (schema_settings(group) or []) and inner:  # a valid key, a bad key inside its value
            return unknown_key_message(f"{key}.{inner}")
        if isinstance(cause, ConfigAttributeError) and "not in struct" in str(cause):
            return (
                f"{key}: {group} takes new entries with +{key}=..."  # a dict setting (dataset.category_map)
            )
        return unknown_key_message(key)
    merging = re.match(r"Error merging override (.+)$", text.splitlines()[0])
    if merging and cause is not None:
        return f"{merging.group(1)}: {str(cause).splitlines()[0]}"
    if isinstance(err, MissingConfigException):
        missing = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
        options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], flags=re.MULTILINE)
        if missing and options:
            group, option = missing.groups()
            return f"{group}={option} is not an option of {group}; its options: {', '.join(options)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[:2]) if lines else type(err).__name__


def _keep_traceback(overrides: list[str]) -> bool:
    return "debug=true" in overrides or os.environ.get("HYDRA_FULL_ERROR") == "1"


def prepare_job(cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, list[str]]:
    """(config, overrides) of a job with hardware/recipe auto resolved (a multirun job; single runs already are)."""
    if cfg.hardware.name != "auto" and cfg.recipe.name != "auto":
        return cfg, overrides
    from hydra.core.hydra_config import HydraConfig

    try:
        resolution = _resolve(overrides, HydraConfig.get().job.config_name or "config", False)
    except HardwareUnfitError as err:
        if _keep_traceback(overrides):
            raise
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    announce(resolution)
    return resolution.cfg, [*(o for o in overrides if o not in AUTO_CHOICES), *resolution.overrides]


def show_plan(cfg: DictConfig, run_dir: str | Path | None) -> None:
    """Print the plan and keep it as ``<run dir>/plan.json`` (the top process only)."""
    if not is_top_process():
        return
    from dr_irl.plan import build_plan

    plan = build_plan(cfg, machine_for(cfg))
    print(plan.render(), flush=True)
    if run_dir is not None and not cfg.plan_only:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "plan.json").write_text(
            json.dumps(plan.to_json(), indent=2) + "\n", encoding="utf-8"
        )
