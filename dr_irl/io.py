"""Atomic file writes (text, JSON, JSON lines) and folder replacement: an artifact is either complete or absent,
never half-written."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file next to ``path`` for the block to write; renamed to ``path`` (readable, 0644) when the
    block ends, deleted when it raises. For writers that take a file name (``save_file``, ``savefig``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    """One JSON object per line, written atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: str | Path) -> list[dict]:
    """The objects of a JSON-lines file (blank lines skipped). Lines end at "\n" only: a generated text may
    hold other characters that ``str.splitlines`` breaks at (U+2028, U+0085, …)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]


def replace_dir(new: Path, final: Path) -> None:
    """Publish the complete folder ``new`` as ``final``, never losing the old ``final`` on the way.

    The old folder is renamed aside, the new one renamed in, and only then is the old one deleted: a failure
    at any point leaves either the old or the new folder complete at ``final`` (or, between the two renames,
    the old one aside and the new one still at ``new``). An old folder that cannot be deleted (a read-only
    or immutable file inside) is left aside with a warning naming it; the new folder is published anyway.
    """
    new, final = Path(new), Path(final)
    aside = None
    if final.exists():
        aside = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
        os.replace(final, aside / final.name)
    try:
        os.replace(new, final)
    except BaseException:
        if aside is not None:  # put the old folder back where it was
            os.replace(aside / final.name, final)
            aside.rmdir()
        raise
    if aside is not None:
        remove_tree(aside)


def remove_tree(path: Path) -> bool:
    """Delete a folder; on failure warn, naming what could not be removed, and return False."""
    problems: list[str] = []

    def onexc(function, failed, exc) -> None:  # keep deleting the rest, remember what failed
        problems.append(f"{failed} ({exc if isinstance(exc, BaseException) else exc[1]})")

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=onexc)
    else:
        shutil.rmtree(path, onerror=onexc)
    if problems:
        warnings.warn(
            f"could not delete {path}: {problems[0]}"
            + (f" and {len(problems) - 1} more" if problems[1:] else ""),
            stacklevel=2,
        )
    return not problems
