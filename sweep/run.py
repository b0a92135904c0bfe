"""Launch a named multirun: ``python sweep/run.py NAME [key=value ...] [--dry-run]``.

A definition ``sweep/NAME.yaml`` holds ``params`` (key → list of values, swept as a grid) and fixed
``overrides``; this turns it into ``python train.py -m key=v1,v2 ... logger.group=NAME`` so the runs of a
sweep share a W&B group, prints the command and runs it.

A table whose rows are not a grid (an ablation: GRPO with the rule reward, + IRL, + scaling) names them under
``rows`` (row name → its overrides): each row is one multirun of the ``params`` grid, all rows in one folder
(``multirun/NAME``, one subfolder per run), run one after the other; with the stage cache a rerun skips what
is done.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def _value(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _spec(name: str) -> dict:
    path = HERE / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in HERE.glob("*.yaml"))
        raise SystemExit(f"no sweep '{name}' ({path}); known: {known}")
    spec = yaml.safe_load(path.read_text())
    unknown = set(spec) - {"description", "params", "overrides", "rows"}
    if unknown:
        raise SystemExit(f"{path}: unknown keys {sorted(unknown)}")
    return spec


def sweep_commands(name: str, extra: list[str]) -> list[list[str]]:
    """The ``train.py -m`` command of each row of sweep ``name`` (one command when it has no ``rows``)."""
    spec = _spec(name)
    params = [
        f"{key}={','.join(_value(v) for v in values)}" for key, values in spec.get("params", {}).items()
    ]
    base = [sys.executable, str(HERE.parent / "train.py"), "-m", *spec.get("overrides", [])]
    if "rows" not in spec:
        return [[*base, *params, f"logger.group={name}", *extra]]
    return [
        [
            *base,
            *overrides,
            *params,
            f"logger.group={name}",
            f"hydra.sweep.dir=multirun/{name}",
            f"hydra.sweep.subdir={row}-${{hydra.job.num}}-${{run_name}}",  # rows never share a folder
            *extra,
        ]
        for row, overrides in spec["rows"].items()
    ]


def sweep_command(name: str, extra: list[str]) -> list[str]:
    """The one ``train.py -m`` command of a grid sweep."""
    commands = sweep_commands(name, extra)
    if len(commands) != 1:
        raise SystemExit(f"sweep '{name}' has {len(commands)} rows: use sweep_commands")
    return commands[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--dry-run", action="store_true", help="print the command only")
    args = parser.parse_args()
    for command in sweep_commands(args.name, args.overrides):
        print(" ".join(command))
        if not args.dry_run:
            code = subprocess.call(command, cwd=HERE.parent)
            if code:
                raise SystemExit(code)


if __name__ == "__main__":
    main()
