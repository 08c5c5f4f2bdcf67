"""From generation records to the evaluation's results: per-configuration metrics, sweeps,
paired comparisons, and the tables the CLI prints.

Every statistic is a bootstrap over prompts (a prompt's samples are averaged first, or summed for
ratios such as tokens per second), so configurations run on the same prompts are comparable.
Reads only the records' plain dicts (their `eval` block); runs no model and writes no file.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from backends.evaluation import metrics

MEANS = ("reward", "diversity", "coherence", "kl", "log_ratio", "length", "first_token_ms")
RATIOS = {"tokens_per_s": ("length", "elapsed_s"), "lm_tokens_per_token": ("lm_tokens", "length"),
          "reward_tokens_per_token": ("reward_tokens", "length")}
TITLES = {"reward": "reward (weighted)", "diversity": "diversity", "coherence": "coherence",
          "kl": "KL to base (sum)", "log_ratio": "log ratio (sum)", "length": "length (tokens)",
          "tokens_per_s": "tokens/s", "lm_tokens_per_token": "LM tokens / token",
          "reward_tokens_per_token": "RM tokens / token", "first_token_ms": "first token ms"}
WEIGHTED = "weighted"


def _value(ev: dict[str, Any], name: str) -> float | None:
    if name == "first_token_ms":
        return None if ev.get("first_token_s") is None else 1e3 * ev["first_token_s"]
    if name.startswith("reward:"):
        return (ev.get("reward_parts") or {}).get(name[len("reward:"):])
    return ev.get(name)


def _per_prompt_mean(groups: dict[int, list[dict]], name: str) -> list[float | None]:
    out = []
    for evs in groups.values():
        vals = [v for e in evs if (v := _value(e, name)) is not None and math.isfinite(v)]
        out.append(sum(vals) / len(vals) if vals else None)
    return out


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of one configuration: {name: {mean, lo, hi, n}} plus counts."""
    ok = [r for r in records if r.get("stop_reason") != "error"]
    groups: dict[int, list[dict]] = defaultdict(list)
    for r in ok:
        groups[r["prompt_index"]].append(r["eval"])
    parts = sorted({p for r in ok for p in (r["eval"].get("reward_parts") or {})})
    out = {name: metrics.bootstrap_mean(_per_prompt_mean(groups, name)).to_dict() for name in MEANS}
    for name, (num, den) in RATIOS.items():
        nums = [sum(e.get(num) or 0.0 for e in evs) for evs in groups.values()]
        dens = [sum(e.get(den) or 0.0 for e in evs) for evs in groups.values()]
        out[name] = metrics.bootstrap_ratio(nums, dens).to_dict()
    errors = [r for r in records if r.get("stop_reason") == "error"]
    return {"generations": len(records), "prompts": len(groups), "errors": len(errors),
            "first_error": errors[0].get("error") if errors else None, "metrics": out,
            "reward_parts": {p: metrics.bootstrap_mean(_per_prompt_mean(groups, f"reward:{p}")).to_dict()
                             for p in parts}}


def judge_score(record: dict[str, Any], judge: str) -> float | None:
    return _value(record["eval"], "reward" if judge == WEIGHTED else f"reward:{judge}")


def compare(records: list[dict[str, Any]], a: str, b: str, judge: str) -> dict[str, Any]:
    """Win rate of configuration `a` over `b` on the same (prompt, sample) keys under `judge`."""
    scores: dict[str, dict[tuple[int, int], float]] = {a: {}, b: {}}
    for r in records:
        if r["label"] in scores and r.get("stop_reason") != "error":
            s = judge_score(r, judge)
            if s is not None:
                scores[r["label"]][(r["prompt_index"], r["sample"])] = s
    pairs: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for key in sorted(scores[a].keys() & scores[b].keys()):
        pairs[key[0]].append((scores[a][key], scores[b][key]))
    return {"a": a, "b": b, "judge": judge, **metrics.win_rate(pairs).to_dict()}


def sweeps(decoders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points of each --sweep (decoder, key) in the order given: value, label, reward, KL."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for d in decoders:
        if d.get("sweep_key"):
            groups[(d["decoder"], d["sweep_key"])].append(d)
    return [{"decoder": dec, "key": key, "points": [
        {"value": d["sweep_value"], "label": d["label"], **{m: d["metrics"][m] for m in ("reward", "kl", "log_ratio")}}
        for d in points]} for (dec, key), points in groups.items()]


def results(records: Iterable[dict[str, Any]], specs: list, comparisons: list[tuple[str, str]], judge: str,
            run: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Everything results.json holds, for the configurations of this run."""
    records = list(records)
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_label[r["label"]].append(r)
    decoders = [{"label": s.label, "decoder": s.decoder, "config": s.config, "sweep_key": s.sweep_key,
                 "sweep_value": s.sweep_value, **summarise(by_label.get(s.label, []))} for s in specs]
    return {"run": run, "notes": notes, "decoders": decoders, "sweeps": sweeps(decoders),
            "comparisons": [compare(records, a, b, judge) for a, b in comparisons]}


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _row(title: str, m: dict[str, Any]) -> str:
    interval = "" if m["lo"] is None else f"[{_fmt(m['lo'])}, {_fmt(m['hi'])}]"
    return f"  {title:<28} {_fmt(m['mean']):>10}  {interval}"


def decoder_table(d: dict[str, Any], coherence_model: str | None) -> str:
    lines = [f"== {d['label']}: {d['generations']} generations over {d['prompts']} prompts, {d['errors']} errors",
             f"  {'metric':<28} {'mean':>10}  95% interval (bootstrap over prompts)"]
    for name, title in TITLES.items():
        if name == "coherence":
            if not coherence_model:
                lines.append(f"  {title:<28} {'skipped':>10}  (no sentence-embedding model, see the note)")
                continue
            title = f"coherence ({coherence_model.rsplit('/', 1)[-1]})"
        lines.append(_row(title, d["metrics"][name]))
        if name == "reward":
            lines += [_row(f"  reward: {p}", m) for p, m in d["reward_parts"].items()]
    if d["first_error"]:
        lines.append(f"  first error: {d['first_error']}")
    return "\n".join(lines)


def render_text(res: dict[str, Any]) -> str:
    """The tables the CLI prints: one per configuration, then sweeps and comparisons."""
    coherence_model = res["run"].get("coherence_model")
    blocks = [decoder_table(d, coherence_model) for d in res["decoders"]]
    for s in res["sweeps"]:
        lines = [f"== sweep {s['decoder']} over {s['key']}: reward vs KL",
                 f"  {s['key']:<10} {'reward':>10}  {'95% interval':<20} {'KL (sum)':>10} {'log ratio':>10}"]
        for p in s["points"]:
            r = p["reward"]
            interval = "" if r["lo"] is None else f"[{_fmt(r['lo'])}, {_fmt(r['hi'])}]"
            lines.append(f"  {p['value']:<10} {_fmt(r['mean']):>10}  {interval:<20} {_fmt(p['kl']['mean']):>10} "
                         f"{_fmt(p['log_ratio']['mean']):>10}")
        blocks.append("\n".join(lines))
    for c in res["comparisons"]:
        interval = "" if c["lo"] is None else f" [{_fmt(c['lo'])}, {_fmt(c['hi'])}]"
        blocks.append(f"== {c['a']} vs {c['b']} (judge: {c['judge']} reward): win rate {_fmt(c['win_rate'])}"
                      f"{interval}; {c['wins']} wins, {c['ties']} ties, {c['losses']} losses over "
                      f"{c['prompts']} prompts (ties count half; paired bootstrap 95%)")
    blocks += [f"note: {n}" for n in res["notes"]]
    return "\n\n".join(blocks)
