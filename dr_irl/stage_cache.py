"""A content-addressed store of finished stages shared by runs (``stage_cache=true``).

A stage's fingerprint hashes the config keys it reads and its inputs' fingerprints, so two runs of a sweep
that agree on them (the data, reference samples and reward models of ``optimizer=sft,dpo,grpo``) would
compute the same folder: the first run stores it under ``paths.stage_cache_dir/<stage>/<fingerprint>``,
the others restore it. Files are hard-linked where the file system allows (no copy of model weights),
copied otherwise; entries are published by an atomic rename, so concurrent jobs never see half an entry.
Code changes do not change fingerprints: clear the folder after editing a stage's code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


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
        """Copy the entry to ``dst`` (through ``dst``'s sibling tmp folder, then a rename). Entries are never
        removed by the cache itself, so a restore cannot race with a store of the same stage."""
        tmp = dst.parent / f".{dst.name}.restore"
        shutil.rmtree(tmp, ignore_errors=True)
        copy_tree(self.entry(stage, fingerprint), tmp)
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)

    def store(self, stage: str, fingerprint: str, src: Path) -> bool:
        """Publish ``src`` as the entry; False when another job published it first."""
        final = self.entry(stage, fingerprint)
        if self.has(stage, fingerprint):
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{fingerprint}.")) / "entry"
        try:
            copy_tree(src, tmp)
            tmp.rename(final)  # atomic; fails when another job published the entry first
            return True
        except OSError:
            return False
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
