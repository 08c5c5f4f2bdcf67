"""Pure rendering of panel views to HTML: coloured tokens, rollouts, notes, totals, the summary line.

Every piece of user or model text (prompt, preference, tokens, rollouts, notes, errors) is
escaped here, once, before it reaches the page. These functions take views and return strings;
they hold no state and know no Gradio. The plots are in `playground.traces`, the candidate
table in `playground.inspector`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from playground.metrics import divergence_step, first_difference, fmt, totals_rows
from playground.runner import PanelView

ROLLOUT_ROWS = 12  # rollouts listed per panel (the inspector shows those of any step)
SNIPPET = 140  # characters of a rollout shown inline (the tooltip has the whole text)
PROMPT_CHARS = 300  # of the prompt echoed above the panels


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def panel_label(index: int, view: PanelView) -> str:
    return f"{index + 1}: {view.request.decoder}"


def reward_range(views: Sequence[PanelView]) -> tuple[float, float]:
    """The colour scale's [lo, hi], shared by all panels so colours compare across them."""
    values = [t.reward for v in views for t in v.tokens if t.reward is not None and math.isfinite(t.reward)]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    return (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo, hi)


def reward_color(reward: float | None, lo: float, hi: float) -> str:
    """Diverging red -> white -> green over [lo, hi]; transparent when there is no reward."""
    if reward is None or not math.isfinite(reward):
        return "transparent"
    x = 2 * (reward - lo) / (hi - lo) - 1  # in [-1, 1]
    x = max(-1.0, min(1.0, x))
    alpha = 0.12 + 0.58 * abs(x)
    return f"rgba(26,152,80,{alpha:.2f})" if x >= 0 else f"rgba(215,48,39,{alpha:.2f})"


def request_line(view: PanelView) -> str:
    """Which decoder with which settings, rewards and seed produced this panel."""
    r = view.request
    config = ", ".join(f"{k}={v!r}" for k, v in r.config.items()) or "defaults"
    rewards = ", ".join(f"{k}×{w:g}" for k, w in r.rewards.items()) or "none"
    return (f'<div class="panel-head"><b>{esc(r.decoder)}</b> <span class="cfg">{esc(config)}</span> · '
            f"rewards {esc(rewards)} · seed {r.seed}</div>")


def token_span(t, panel: int, lo: float, hi: float) -> str:
    parts = " ".join(f"{k}={fmt(v)}" for k, v in t.reward_parts.items())
    tip = (f"step {t.index} | token {t.text!r} (id {t.token_id}) | reward {fmt(t.reward)} {parts} | "
           f"value {fmt(t.value)} | log p base {fmt(t.logprob_base)} | log p decoder {fmt(t.logprob_decoder)} | "
           f"KL {fmt(t.kl)} | entropy {fmt(t.entropy)} | click to inspect")
    return (f'<span class="tok" data-panel="{panel}" data-step="{t.index}" '
            f'{_reward_attr(t.reward)}style="background:{reward_color(t.reward, lo, hi)}" title="{esc(tip)}">'
            f"{esc(t.text)}</span>")


def _reward_attr(reward: float | None) -> str:
    """The token's reward for the page's script, which recolours tokens when the shared scale moves."""
    return f'data-r="{reward:.6g}" ' if reward is not None and math.isfinite(reward) else ""


def status_html(view: PanelView, waiting: str = "waiting...") -> str:
    f = view.finished
    if f is None:
        return "" if view.tokens else f'<div class="status">{esc(waiting)}</div>'
    if f.stop_reason == "error":
        return f'<div class="status error" role="alert">error: {esc(f.error or "unknown error")}</div>'
    return f'<div class="status">stopped: {esc(f.stop_reason)} after {f.new_tokens} tokens</div>'


def token_html(view: PanelView, lo: float, hi: float, panel: int = 0, waiting: str = "waiting...") -> str:
    """The panel's continuation as coloured spans; each tooltip holds the token's exact numbers."""
    spans = "".join(token_span(t, panel, lo, hi) for t in view.tokens)
    return f'{head_html(view)}<div class="tokens" data-panel="{panel}">{spans}</div>{status_html(view, waiting)}'


def head_html(view: PanelView) -> str:
    """What stands above the tokens: the request line, then the panel's notes."""
    return request_line(view) + "".join(f'<div class="note">{esc(n)}</div>' for n in view.notes)


def rollout_item(r, best: bool = False) -> str:
    """One scored rollout; `best` marks the top one of a decoder that flags none as kept (PRS)."""
    flag = ' <b class="kept">kept</b>' if r.kept else (' <b class="kept">best</b>' if best else "")
    where = f"round {r.group} #{r.index}" if r.step is None else f"step {r.step} cand {r.candidate} #{r.index}"
    snippet = r.text if len(r.text) <= SNIPPET else r.text[:SNIPPET] + "…"
    return (f'<li class="{"kept" if r.kept or best else ""}" title="{esc(r.text)}"><span class="where">'
            f'{esc(where)}</span> reward <b>{fmt(r.reward)}</b>{flag}: <span class="rtext">{esc(snippet)}</span></li>')


def rollouts_html(view: PanelView, limit: int = ROLLOUT_ROWS) -> str:
    """A compact list of scored rollouts: all samples of sequence-level decoders (best-of-N, PRS),
    the latest step's rollouts for token-level ones (CD, TQ*, DeAL)."""
    if not view.rollouts:
        return ""
    latest = view.rollouts[-1].step
    shown = view.rollouts if latest is None else [r for r in view.rollouts if r.step == latest]
    head = (f"{len(view.rollouts)} rollouts scored" if latest is None else
            f"{len(view.rollouts)} rollouts scored; step {latest} (click a token for the others)")
    more = f"<li>… and {len(shown) - limit} more</li>" if len(shown) > limit else ""
    best = None
    if latest is None and view.done and not any(r.kept for r in shown):
        best = max(range(len(shown)), key=lambda i: shown[i].reward)
    items = "".join(rollout_item(r, i == best) for i, r in enumerate(shown[:limit]))
    return f'<details class="rollouts" open><summary>{esc(head)}</summary><ol>{items}{more}</ol></details>'


def totals_html(view: PanelView, diverges_at: int | None = None) -> str:
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in totals_rows(view, diverges_at))
    return f'<table class="totals">{rows}</table>'


def panel_divergence(views: Sequence[PanelView]) -> list[int | None]:
    """Per panel, the first step where it differs from panel 1 (None for panel 1 itself)."""
    if not views:
        return []
    ref = [t.token_id for t in views[0].tokens]
    out: list[int | None] = [None]
    for v in views[1:]:
        out.append(first_difference(ref, [t.token_id for t in v.tokens], views[0].done and v.done))
    return out


def summary_html(views: Sequence[PanelView], lo: float, hi: float, message: str = "") -> str:
    """The line above the panels: divergence step, the colour legend and any status message."""
    failed = [i for i, v in enumerate(views) if v.finished is not None and v.finished.stop_reason == "error"]
    working = [v for i, v in enumerate(views) if i not in failed]
    step = divergence_step(working)
    done = bool(working) and all(v.done for v in working)
    if failed:  # a failed panel has no tokens to compare: say so, and compare the others
        names = ", ".join(str(i + 1) for i in failed)
        diverge = ("Every panel failed (see the errors in the panels). " if not working else
                   f"Panel{'s' if len(failed) > 1 else ''} {names} failed (see the error). ")
    else:
        diverge = ""
    if len(working) < 2:
        pass
    elif step is not None:
        diverge += f"Panels first diverge at step <b>{step}</b>. "
    else:
        diverge += "Panels identical so far. " if not done else "Panels produced identical tokens. "
    legend = (f'token colour: reward of the prefix after the token, from <span style="background:'
              f'{reward_color(lo, lo, hi)}">{lo:.2f}</span> to <span style="background:{reward_color(hi, lo, hi)}">'
              f"{hi:.2f}</span>; hover a token for its numbers, click it to inspect the step.")
    note = f'<div class="status">{esc(message)}</div>' if message else ""
    prompt = ""
    if views:
        text = views[0].request.prompt
        short = text if len(text) <= PROMPT_CHARS else text[:PROMPT_CHARS] + "…"
        prompt = f'<div class="prompt-echo">prompt: <span class="ptext">{esc(short)}</span></div>'
    return f'{prompt}<div class="legend">{diverge}{legend}</div>{note}'
