"""Who is voting: an annotator id kept in the browser's localStorage, shown (and editable) in the header.

On every page load the id is read from localStorage, or a random one (`anon-` + 10 hex digits) is
created and stored there, so it survives reloads and server restarts without any login. Typing
another id (a name, say) stores that one instead. Votes from the Arena and the Compare tab carry
this id; the server only ever sees it as an input of the vote. Plain localStorage (not an
encrypted `gr.BrowserState`) because BrowserState's key changes with each server start unless a
secret is configured, and an annotator's id must outlive restarts.
"""

from __future__ import annotations

import gradio as gr

STORAGE_KEY = "decoder-playground-annotator"
# Runs in the browser before the load event: the stored id, or a fresh one (stored at once). Where
# localStorage is blocked the fresh id still works for this page, it just is not remembered.
LOAD_JS = f"""() => {{
  let id = null;
  try {{ id = localStorage.getItem('{STORAGE_KEY}'); }} catch (e) {{}}
  if (!id) {{
    const bytes = crypto.getRandomValues(new Uint8Array(5));
    id = 'anon-' + Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
    try {{ localStorage.setItem('{STORAGE_KEY}', id); }} catch (e) {{}}
  }}
  return id;
}}"""
SAVE_JS = f"""(id) => {{
  const clean = (id || '').trim();
  try {{ if (clean) localStorage.setItem('{STORAGE_KEY}', clean); }} catch (e) {{}}
  return id;
}}"""


def annotator_box() -> gr.Textbox:
    """The header's id box (call inside a layout block)."""
    return gr.Textbox(label="Annotator id (kept in this browser; type a name to use your own)",
                      max_lines=1, max_length=64, elem_id="annotator", scale=1, min_width=220)


def wire_identity(page: gr.Blocks, box: gr.Textbox) -> None:
    """Fill the box from localStorage on load; store what the annotator types (no server round trip)."""
    page.load(lambda stored: stored, box, box, js=LOAD_JS, queue=False, show_progress="hidden")
    box.input(None, box, None, js=SAVE_JS, queue=False)
