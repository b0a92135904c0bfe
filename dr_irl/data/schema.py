"""One record schema for the whole pipeline, and jsonl loading that names the file and line of bad input."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from dr_irl.errors import UserError
from dr_irl.io import atomic_write_text

LABELS = ("harmful", "benign")


class DataError(UserError, ValueError):
    """A malformed dataset record; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Record:
    """A prompt with its category and its demonstration (a refusal for harmful, an answer for benign)."""

    id: str
    prompt: str
    category: str
    label: str
    demonstration: str
    source: str = "bundled"
    chosen: str | None = None
    rejected: str | None = None

    @property
    def harmful(self) -> bool:
        return self.label == "harmful"


_REQUIRED_TEXT = ("id", "prompt", "category", "label", "demonstration")


def parse_record(raw: object, categories: Sequence[str], where: str) -> Record:
    """Validate one decoded json value; raise :class:`DataError` naming ``where`` and the field."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    for key in _REQUIRED_TEXT:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            problem = "missing" if key not in raw else "empty or not a string"
            raise DataError(f"{where}: field '{key}' is {problem}")
    if raw["category"] not in categories:
        raise DataError(
            f"{where}: unknown category '{raw['category']}' (dataset.categories: {list(categories)})"
        )
    if raw["label"] not in LABELS:
        raise DataError(f"{where}: field 'label' must be one of {LABELS}, got '{raw['label']}'")
    known = {f for f in Record.__dataclass_fields__}
    return Record(**{k: v for k, v in raw.items() if k in known})


def load_records(
    path: str | Path, categories: Sequence[str], skip_invalid: bool = False
) -> tuple[list[Record], int]:
    """Read a jsonl file of records; returns (records, number skipped).

    A malformed line (not UTF-8, not JSON, a missing or bad field) raises :class:`DataError` with
    ``file:line`` unless ``skip_invalid`` is set, in which case it is counted (and the caller reports the
    count). Duplicate ids are always an error.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: dataset file not found (set dataset.train_path / dataset.heldout_path)")
    records: list[Record] = []
    skipped = 0
    seen: dict[str, int] = {}
    for number, data in enumerate(path.read_bytes().splitlines(), start=1):
        if not data.strip():
            continue
        where = f"{path}:{number}"
        try:
            line = decode_line(data, where, first=number == 1)
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from None
            record = parse_record(raw, categories, where)
        except DataError:
            if not skip_invalid:
                raise
            skipped += 1
            continue
        if record.id in seen:
            raise DataError(f"{where}: duplicate id '{record.id}' (first at line {seen[record.id]})")
        seen[record.id] = number
        records.append(record)
    if not records:
        raise DataError(f"{path}: no valid records")
    return records, skipped


def decode_line(data: bytes, where: str, first: bool = False) -> str:
    """One line of a text file as UTF-8 (a byte-order mark on the first line is dropped), or a
    :class:`DataError` naming ``where`` and the offending byte."""
    if first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{where}: not valid UTF-8 (byte 0x{data[err.start]:02x} at byte {err.start + 1} of the line); "
            "save the file as UTF-8"
        ) from None


def write_records(path: str | Path, records: Iterable[Record]) -> None:
    """Write records as jsonl, atomically."""
    lines = [
        json.dumps({k: v for k, v in asdict(r).items() if v is not None}, ensure_ascii=False) for r in records
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")
