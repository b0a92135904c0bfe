"""Content hashes of what a stage reads (input files) and writes (its artifacts).

A finished stage's ``DONE.json`` lists every file of its folder with its size, mtime and SHA-256; on resume
:func:`verify` checks them (a file whose size and mtime are unchanged is trusted, any other is re-hashed), so a
truncated or replaced artifact makes the stage run again instead of failing a later stage. Input files named
by the config (keys ``path`` / ``*_path`` such as ``dataset.train_path``, ``dataset.local_path``,
``eval.benchmarks[i].path``) enter the stage's fingerprint by content, so editing a dataset file reruns the
stages that read it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

CHUNK = 1 << 20
MARKERS = ("DONE.json", "STARTED.json")  # the pipeline's own files: never artifacts
_hashes: dict[tuple, str] = {}  # (path, size, mtime_ns, inode) -> sha256: each file hashed once per process


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, streamed (memoised on path, size, mtime and inode)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def manifest(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``relative path → {size, mtime_ns, sha256}`` of every file under ``folder`` (markers excluded)."""
    folder = Path(folder)
    entries = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel in MARKERS or not path.is_file():
            continue
        st = path.stat()
        entries[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path)}
    return entries


def verify(folder: str | Path, recorded: dict[str, dict[str, Any]]) -> tuple[list[str], bool]:
    """Check ``folder`` against a :func:`manifest`; returns (problems naming each bad file, whether any mtime
    moved with the content intact, i.e. the manifest's mtimes are worth refreshing)."""
    folder = Path(folder)
    problems: list[str] = []
    moved = False
    for rel, entry in recorded.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        st = path.stat()
        if st.st_size != entry["size"]:
            problems.append(f"{path} has {st.st_size} bytes, {entry['size']} when the stage finished")
        elif st.st_mtime_ns != entry.get("mtime_ns"):
            if file_sha256(path) != entry["sha256"]:
                problems.append(f"{path} changed since the stage finished (its SHA-256 differs)")
            else:
                moved = True
    return problems, moved


def output_digest(recorded: dict[str, dict[str, Any]], summary: Any) -> str:
    """What the stages that read this one depend on: the content of its files and its summary."""
    payload = {"files": {rel: e["sha256"] for rel, e in recorded.items()}, "summary": summary}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _is_path_key(name: str) -> bool:
    return name == "path" or name.endswith("_path")


def input_files(cfg: DictConfig, keys: tuple[str, ...]) -> dict[str, Path]:
    """``config key → file`` for every ``path`` / ``*_path`` value under ``keys`` that names an existing file
    (folders, hub ids and empty values are not input files)."""
    found: dict[str, Path] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, DictConfig):
            for name in node.keys():
                value = node.get(name)
                if OmegaConf.is_config(value):
                    walk(value, f"{where}.{name}")
                elif isinstance(value, str) and value and _is_path_key(str(name)):
                    path = Path(value).expanduser()
                    if path.is_file():
                        found[f"{where}.{name}"] = path
        elif isinstance(node, ListConfig):
            for index, item in enumerate(node):
                if OmegaConf.is_config(item):
                    walk(item, f"{where}.{index}")

    for key in keys:
        node = OmegaConf.select(cfg, key)
        if OmegaConf.is_config(node):
            walk(node, key)
        elif isinstance(node, str) and node and _is_path_key(key.rsplit(".", 1)[-1]):
            if Path(node).expanduser().is_file():
                found[key] = Path(node).expanduser()
    return found


def input_hashes(cfg: DictConfig, keys: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``config key → {path, sha256}`` of the input files under ``keys``."""
    return {
        key: {"path": str(path), "sha256": file_sha256(path)} for key, path in input_files(cfg, keys).items()
    }
