"""The token inspector: why a token won, as the candidate table of its step and the rollouts behind it.

`candidate_rows` lists what the decoder considered at one step (token, base log-prob, reward,
value, final score, chosen); `step_rollouts` the scored continuations drawn at that step (the
texts behind CD/TQ*/DeAL values); `features_html` the step's sparse-autoencoder features next
to those of the base policy's greedy token. `inspector_html` renders them all, escaped. Pure
functions of panel views; the UI decides which panel and step to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backends.events import FeatureStep, Rollout, TokenStep
from playground.metrics import fmt
from playground.render import esc, panel_label
from playground.runner import PanelView

COLUMNS = ("token", "id", "log p base", "reward", "value", "score", "chosen")


def candidate_rows(view: PanelView, step: int) -> list[dict[str, Any]]:
    """One dict per candidate of `step` (in the decoder's order: best score first)."""
    token = next((t for t in view.tokens if t.index == step), None)
    if token is None:
        return []
    return [{"token": c.text, "id": c.token_id, "log p base": c.logprob_base, "reward": c.reward,
             "value": c.value, "score": c.score, "chosen": c.token_id == token.token_id}
            for c in token.candidates]


def step_rollouts(view: PanelView, step: int | None) -> list[Rollout]:
    """Rollouts drawn at `step` (None: those of a sequence-level decoder, drawn for the whole text)."""
    return [r for r in view.rollouts if r.step == step]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "✔" if value else ""
    if isinstance(value, float) or value is None:
        return fmt(value, 4)
    return esc(repr(value) if isinstance(value, str) else value)


def table_html(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join(f'<tr class="{"chosen" if r["chosen"] else ""}">'
                   + "".join(f"<td>{_cell(r[c])}</td>" for c in COLUMNS) + "</tr>" for r in rows)
    return f'<table class="cands"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def rollouts_table(rollouts: Sequence[Rollout], names: dict[int, str]) -> str:
    """The rollout texts behind the values, grouped by candidate in the table's order (`names`)."""
    order = {token_id: i for i, token_id in enumerate(names)}
    items = []
    for r in sorted(rollouts, key=lambda r: (order.get(r.candidate, len(order)), r.group, r.index)):
        cand = "" if r.candidate is None else f"after {names.get(r.candidate, str(r.candidate))!r} "
        kept = " (kept)" if r.kept else ""
        parts = " ".join(f"{k}={fmt(v)}" for k, v in r.reward_parts.items())
        items.append(f'<li class="{"kept" if r.kept else ""}"><span class="where">{esc(cand)}#{r.index}'
                     f"{esc(kept)}</span> reward <b>{fmt(r.reward)}</b> {esc(parts)}: "
                     f'<span class="rtext">{esc(r.text)}</span></li>')
    return f'<ol class="inspect-rollouts">{"".join(items)}</ol>'


def _feature_cells(features: Sequence[int], activations: Sequence[float], shared: set[int], i: int) -> str:
    if i >= len(features):
        return "<td></td><td></td>"
    f = features[i]
    name = f'<mark title="a top feature of both">#{esc(f)}</mark>' if f in shared else f"#{esc(f)}"
    return f"<td>{name}</td><td>{fmt(activations[i], 3)}</td>"


def features_html(token: TokenStep, fs: FeatureStep) -> str:
    """The decoder's top features after its token beside the base's after its greedy token (shared ones marked)."""
    shared = set(fs.features) & set(fs.base_features)
    took = ("the decoder took the same token" if fs.base_token == token.token_id
            else f"the decoder chose {token.text!r} instead")
    head = (f'<div class="feat-head">base policy\'s greedy token <code>{esc(repr(fs.base_text))}</code> '
            f"(id {esc(fs.base_token)}): {esc(took)} · feature distance to base <b>{fmt(fs.distance, 4)}</b> "
            f"(FPO, over the top {esc(fs.k)}) · overlap <b>{fmt(100 * fs.overlap, 0)}%</b> of the features "
            "shown (shared ones highlighted)</div>")
    cols = (f"decoder {token.text!r}", "activation", f"base {fs.base_text!r}", "activation")
    thead = "".join(f"<th>{esc(c)}</th>" for c in cols)
    n = max(len(fs.features), len(fs.base_features))
    body = "".join(f"<tr>{_feature_cells(fs.features, fs.activations, shared, i)}"
                   f"{_feature_cells(fs.base_features, fs.base_activations, shared, i)}</tr>" for i in range(n))
    return (f"<h4>Sparse-autoencoder features</h4>{head}"
            f'<table class="feats"><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>')


def _features_section(view: PanelView, token: TokenStep) -> str:
    fs = view.features.get(token.index)
    if fs is not None:
        return features_html(token, fs)
    if view.request.features:
        return ('<div class="status">No feature trace for this step (not yet, or the trace stopped: '
                "see the panel's notes).</div>")
    return ""


def inspector_html(views: Sequence[PanelView], panel: int, step: int) -> str:
    """The candidate table of one step of one panel (1-based panel as the user counts it is the
    caller's business: `panel` here is the 0-based index)."""
    if not views:
        return '<div class="status">Run a comparison first, then click a token (or pick panel and step).</div>'
    if not 0 <= panel < len(views):
        return f'<div class="status error">No panel {panel + 1}: this run has {len(views)} panels.</div>'
    view = views[panel]
    token = next((t for t in view.tokens if t.index == step), None)
    label = esc(panel_label(panel, view))
    if token is None:
        return f'<div class="status error">Panel {label} has no step {step} (steps 0 to {len(view.tokens) - 1}).</div>'
    head = (f'<div class="inspect-head">Panel <b>{label}</b>, step <b>{step}</b>: chosen '
            f"<code>{esc(repr(token.text))}</code> (id {token.token_id}) · reward {fmt(token.reward)} · "
            f"value {fmt(token.value)} · log p base {fmt(token.logprob_base)} · KL {fmt(token.kl)} · "
            f"entropy {fmt(token.entropy)}</div>")
    rows = candidate_rows(view, step)
    table = table_html(rows) if rows else (
        '<div class="status">This decoder did not rank next-token candidates at this step '
        "(it samples, or ranks whole continuations: see its rollouts).</div>")
    at_step, whole = step_rollouts(view, step), step_rollouts(view, None)
    names = {c.token_id: c.text for c in token.candidates}
    behind = ""
    if at_step:
        behind = f"<h4>Rollouts behind the values ({len(at_step)})</h4>{rollouts_table(at_step, names)}"
    elif whole:
        behind = f"<h4>Whole samples the decoder ranked ({len(whole)})</h4>{rollouts_table(whole, names)}"
    return head + table + _features_section(view, token) + behind
