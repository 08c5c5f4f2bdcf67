"""Escaping: every piece of user-typed or stored text passes through here before it becomes markup.

A prompt, a continuation, a rationale or a configuration label may carry `<script>` or markdown
links; `html_text` and `markdown_text` make them show literally, never run. Presentation only:
nothing here reads the store or computes (it moved here from storage/, which holds data).

    >>> html_text('<b>"hi"</b>\\nthere')
    '&lt;b&gt;&quot;hi&quot;&lt;/b&gt;<br>there'
    >>> markdown_text("**bold** [x](y)")
    '\\\\*\\\\*bold\\\\*\\\\* \\\\[x\\\\]\\\\(y\\\\)'
"""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")  # < > & are left to html.escape


def html_text(text: str) -> str:
    """Text safe inside HTML elements and attribute values; newlines kept as <br>."""
    return html.escape(text, quote=True).replace("\n", "<br>")


def markdown_text(text: str) -> str:
    """Text shown literally by a markdown renderer that also accepts inline HTML."""
    escaped = html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)
    return escaped.replace("\n", "  \n")
