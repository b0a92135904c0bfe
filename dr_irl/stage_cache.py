"""A content-addressed store of finished stages shared by runs (``stage_cache=true``).

A stage's fingerprint hashes the config keys it reads and its inputs' fingerprints, so two runs of a sweep
that agree on them (the data, reference samples and reward models of ``optimizer=sft,dpo,grpo``) would
compute the same folder: the first run stores it under ``paths.stage_cache_dir/<stage>/<fingerprint>``,
the others restore it. Files are hard-linked where the file system allows (no copy of model weights),
copied otherwise; entries are published by an atomic rename, so concurrent jobs never see half an entry.
A restored entry is checked against the file sizes and hashes of its ``DONE.json`` like any resumed stage;
an entry whose files were damaged (a hard-linked file truncated in a run directory) is replaced by the
next run that computes the stage. Code changes do not change fingerprints: clear the folder after editing
a stage's code.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from dr_irl.artifacts import verify
from dr_irl.io import replace_dir


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=_link_or_copy)


class StageCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def entry(self, stage: str, fingerprint: str) -> Path:
        return self.root / stage / fingerprint

    def has(self, stage: str, fingerprint: str) -> bool:
        return (self.entry(stage, fingerprint) / "DONE.json").is_file()

    def restore(self, stage: str, fingerprint: str, dst: Path) -> None:
        """Copy the entry to ``dst`` (through ``dst``'s sibling tmp folder, then :func:`replace_dir`). Only a
        damaged entry is ever replaced (see :meth:`store`), so a restore does not race with a store."""
        tmp = dst.parent / f".{dst.name}.restore"
        shutil.rmtree(tmp, ignore_errors=True)
        copy_tree(self.entry(stage, fingerprint), tmp)
        replace_dir(tmp, dst)

    def store(self, stage: str, fingerprint: str, src: Path) -> bool:
        """Publish ``src`` as the entry; False when another job published an intact one first."""
        final = self.entry(stage, fingerprint)
        damaged = self.has(stage, fingerprint) and not self.intact(stage, fingerprint)
        if self.has(stage, fingerprint) and not damaged:
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{fingerprint}.")) / "entry"
        try:
            copy_tree(src, tmp)
            if damaged:
                replace_dir(tmp, final)
            else:
                tmp.rename(final)  # atomic; fails when another job published the entry first
            return True
        except OSError:
            return False
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)

    def intact(self, stage: str, fingerprint: str) -> bool:
        """Whether the entry's files match the sizes and hashes its ``DONE.json`` lists."""
        entry = self.entry(stage, fingerprint)
        try:
            done = json.loads((entry / "DONE.json").read_text(encoding="utf-8"))
            return not verify(entry, done["artifacts"])[0]
        except (OSError, ValueError, KeyError, TypeError):
            return False
