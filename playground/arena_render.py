"""What the Arena shows, as escaped HTML: the guidelines, the prompt, two blind sides, the verdict.

A side shows its continuation as plain text (no reward colours, no tooltips, no decoder name:
any of those would give the configuration away) until the vote, when it is named by its readable
label (`playground.labels.short_labels`), the full stored label in its tooltip. Every
piece of text (prompt, continuation, configuration label, store message) is escaped here with
`playground.escape.html_text`. Pure functions: views and strings in, strings out.
"""

from __future__ import annotations

from playground.escape import html_text
from playground.labels import short_labels

SIDES = ("A", "B")  # what the annotator sees: A on the left, B on the right
GUIDELINES = """\
Vote for the continuation that answers the prompt better: on topic, fluent, coherent, helpful and,
for reviews, in the tone asked for. Two decoder configurations picked at random wrote the sides;
their names show only after your vote, so judge the text, not the method. Length is not quality.

**A is better** / **B is better**: one is clearly better (keys **1** / **2**, or **A** / **B**) ·
**Tie** (**3** or **T**): about equally good, or different in ways that do not matter ·
**Both bad** (**4** or **X**): neither is acceptable (off topic, broken, repetitive, harmful) ·
**N**: the next battle. One vote per battle; an optional one-line reason helps whoever reads the votes.
"""
WAITING = "Press <b>Next battle</b> (or the <b>N</b> key) to start."


def prompt_html(prompt: str, prompt_set: str) -> str:
    source = f"prompt set <b>{html_text(prompt_set)}</b>" if prompt_set else "your own prompt"
    return (f'<div class="arena-prompt"><span class="arena-source">{source}</span>'
            f'<div class="arena-ptext">{html_text(prompt)}</div></div>')


def side_html(side: int, text: str, state: str = "", label: str | None = None, error: str = "",
              full: str | None = None) -> str:
    """One side: its letter, (after the vote) its configuration's `label` with the `full` one as tooltip,
    its text and its state."""
    tip = f' title="{html_text(full)}"' if full else ""
    name = f'<div class="arena-label"{tip}>{html_text(label)}</div>' if label else ""
    status = f'<div class="status">{html_text(state)}</div>' if state else ""
    if error:
        status = f'<div class="status error" role="alert">error: {html_text(error)}</div>'
    body = html_text(text) if text else '<span class="arena-empty">…</span>'
    return (f'<div class="arena-side" data-side="{SIDES[side]}"><div class="arena-letter">{SIDES[side]}</div>'
            f'{name}<div class="arena-text">{body}</div>{status}</div>')


def status_html(message: str, kind: str = "info") -> str:
    """The line under the sides; `kind` is info, ok or error (errors are announced as alerts)."""
    role = ' role="alert"' if kind == "error" else ' role="status"'
    return f'<div class="arena-status {kind}"{role}>{html_text(message)}</div>'


def readable(labels: tuple[str, str]) -> tuple[str, str]:
    """The two sides' readable labels (reward weights only where the sides differ in them)."""
    names = short_labels(labels)
    return names[labels[0]], names[labels[1]]


def verdict_text(choice: str, labels: tuple[str, str]) -> str:
    """Plain text: what the annotator chose, and which configuration each side was (readable labels)."""
    said = {"left": "A is better", "right": "B is better", "tie": "a tie", "both_bad": "both bad"}[choice]
    names = readable(labels)
    return f"You voted {said}. A was {names[0]}; B was {names[1]}."
