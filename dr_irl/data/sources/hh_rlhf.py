"""``hh_rlhf_harmless`` — Anthropic/hh-rlhf, ``data_dir=harmless-base`` (``dataset.hub_config`` is passed as
``data_dir``; columns ``chosen, rejected``: whole dialogues ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` that
share everything but the final Assistant turn). Prompt = the first Human turn; demonstration = chosen = the
chosen dialogue's final Assistant turn, rejected = the rejected dialogue's (in multi-turn dialogues that turn
answers a later Human turn: ``report["multi_turn_rows"]``). The set has no harm labels: the category comes from a
keyword heuristic over the prompt (:data:`HH_RLHF_KEYWORDS`, keyword → category in priority order, a keyword
matching a whole word with an optional ``s/es/d/ed/ing/er/ers`` ending); prompts matching no keyword are
unmapped. ``dataset.category_map`` adds or overrides keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from dr_irl.data.fetch import text
from dr_irl.data.labels import HH_RLHF_KEYWORDS, keyword_pattern, label_key
from dr_irl.data.sources.named import (
    NO_KEYWORD,
    SourceSpec,
    _Candidate,
    _Context,
    _Item,
    _validate,
    register_named,
)

_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")


def parse_dialogue(text: str) -> list[tuple[str, str]]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b"`` → ``[("Human", "a"), ("Assistant", "b")]``."""
    parts = _TURN.split(text or "")
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def _last(turns: list[tuple[str, str]], role: str) -> str:
    return next((t for r, t in reversed(turns) if r == role), "")


def _convert_hh(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    keywords = [(k, keyword_pattern(k)) for k, v in ctx.table.items() if v]
    for index, row in enumerate(rows):
        chosen_turns = parse_dialogue(text(row.get("chosen")))
        rejected_turns = parse_dialogue(text(row.get("rejected")))
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


register_named(
    SourceSpec(
        "hh_rlhf_harmless",
        "Anthropic/hh-rlhf",
        "train",
        (("chosen",), ("rejected",)),
        HH_RLHF_KEYWORDS,
        _convert_hh,
        "hh-rlhf/harmless-base/train.jsonl.gz",
        config_as_data_dir=True,
    )
)
