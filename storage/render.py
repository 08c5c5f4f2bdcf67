"""Escaped HTML and markdown for what the store holds: prompts, generations, rationales, ratings.

Every piece of stored text (a prompt, a continuation, a rationale, a configuration label, which
can carry user-typed strings) passes through `html_text` or `markdown_text` before it becomes
markup, so a `<script>` in a prompt is shown, never run. The UI may render these strings as they
are. This module formats; it does not query or compute.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Protocol

from storage.records import BattleView, Generation, Vote

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")  # < > & are left to html.escape


def html_text(text: str) -> str:
    """Text safe inside HTML elements and attribute values; newlines kept as <br>."""
    return html.escape(text, quote=True).replace("\n", "<br>")


def markdown_text(text: str) -> str:
    """Text shown literally by a markdown renderer that also accepts inline HTML."""
    escaped = html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)
    return escaped.replace("\n", "  \n")


def generation_html(gen: Generation, heading: str, show_label: bool) -> str:
    label = f'<div class="gen-label">{html_text(gen.label)}</div>' if show_label else ""
    return (f'<div class="gen"><h4>{html_text(heading)}</h4>{label}'
            f'<div class="gen-text">{html_text(gen.text)}</div></div>')


def battle_html(battle: BattleView, *, reveal: bool = False) -> str:
    """The prompt and both continuations, left and right; configuration labels only when not blind
    (or once revealed after the vote)."""
    show = reveal or not battle.blind
    return (f'<div class="battle"><div class="prompt">{html_text(battle.prompt)}</div>'
            f'<div class="sides">{generation_html(battle.left, "Left", show)}'
            f'{generation_html(battle.right, "Right", show)}</div></div>')


def vote_markdown(vote: Vote, battle: BattleView) -> str:
    """One line about a vote: the winner's label (or tie / both bad) and the rationale."""
    winner = {"a": battle.a.label, "b": battle.b.label}.get(vote.outcome)
    verdict = f"**{markdown_text(winner)}** preferred" if winner else vote.outcome.replace("_", " ")
    reason = f" — {markdown_text(vote.rationale)}" if vote.rationale else ""
    return f"{verdict}{reason}"


class Rated(Protocol):
    """A leaderboard row (`backends.ranking.Rating` has these fields)."""

    rank: int
    config: str
    score: float
    lower: float
    upper: float
    battles: int


def leaderboard_markdown(rows: Sequence[Rated]) -> str:
    """A markdown table: rank, configuration, score with its 95% interval, battles."""
    lines = ["| rank | configuration | score | 95% interval | battles |", "|---:|---|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r.rank} | {markdown_text(r.config)} | {r.score:.0f} | "
                     f"{r.lower:.0f} to {r.upper:.0f} | {r.battles} |")
    return "\n".join(lines)
