"""What the Arena shows, as escaped HTML: the guidelines, the prompt, two blind sides, the verdict.

A side shows its continuation as plain text (no reward colours, no tooltips, no decoder name:
any of those would give the configuration away) until the vote, when `reveal` names it. Every
piece of text (prompt, continuation, configuration label, store message) is escaped here with
`storage.render.html_text`. Pure functions: views and strings in, strings out.
"""

from __future__ import annotations

from storage.render import html_text

SIDES = ("A", "B")  # what the annotator sees: A on the left, B on the right
GUIDELINES = """\
**How to judge.** Read the prompt, then both continuations, and vote for the one that answers the
prompt better: on topic, fluent, coherent, helpful, and (for reviews) in the tone asked for. The
two sides were written by two decoder configurations picked at random; their names stay hidden
until you vote, so judge the text, not the method.

- **A is better** / **B is better**: one is clearly better (keys **1** / **2**, or **A** / **B**).
- **Tie** (**3** or **T**): both are about equally good, or differ only in ways that do not matter.
- **Both bad** (**4** or **X**): neither is acceptable (off topic, broken, repetitive, harmful).
- An optional one-line reason helps whoever reads the votes later. **N** starts the next battle.

Length is not quality: do not prefer the longer text for being longer. One vote per battle.
"""
WAITING = "Press <b>Next battle</b> (or the <b>N</b> key) to start."


def prompt_html(prompt: str, prompt_set: str) -> str:
    source = f"prompt set <b>{html_text(prompt_set)}</b>" if prompt_set else "your own prompt"
    return (f'<div class="arena-prompt"><span class="arena-source">{source}</span>'
            f'<div class="arena-ptext">{html_text(prompt)}</div></div>')


def side_html(side: int, text: str, state: str = "", label: str | None = None, error: str = "") -> str:
    """One side: its letter, (after the vote) its configuration, its text and its state."""
    name = f'<div class="arena-label">{html_text(label)}</div>' if label else ""
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


def verdict_text(choice: str, labels: tuple[str, str]) -> str:
    """Plain text: what the annotator chose, and which configuration each side was."""
    said = {"left": "A is better", "right": "B is better", "tie": "a tie", "both_bad": "both bad"}[choice]
    return f"You voted {said}. A was {labels[0]}; B was {labels[1]}."
