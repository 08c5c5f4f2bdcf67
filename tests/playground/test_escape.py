"""Escaping of stored and typed text (moved from storage/): markup shows literally, never runs."""

from __future__ import annotations

from playground.escape import html_text, markdown_text

EVIL = "<script>alert('x')</script>"


def test_html_text_escapes_tags_quotes_and_keeps_newlines():
    out = html_text(EVIL + '\n" onmouseover="x')
    assert "<script>" not in out and "&lt;script&gt;" in out and "&#x27;" in out
    assert "&quot; onmouseover" in out and "<br>" in out


def test_markdown_text_escapes_markdown_and_html():
    assert markdown_text("**bold** | [link](x) <b>") == r"\*\*bold\*\* \| \[link\]\(x\) &lt;b&gt;"
    assert markdown_text("a\nb") == "a  \nb"
