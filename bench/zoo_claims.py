"""The papers' claims on prompts the zoo never saw (issue 14's bars), through the evaluator.

    python bench/zoo_claims.py                        # every section, 32 held-out review prompts
    python bench/zoo_claims.py --only defaults,deal --limit 16 --max-new-tokens 32

Sections (each a table; `ok` is the bar; everything through `backends.api.evaluate`, one seed,
the preset's default reward unless a section says otherwise):
  defaults  sampling and every guided decoder at its default settings on the preset's default reward:
            each beats sampling by >= 0.10 (>= 0.15 for ARGS, RAD and ARM), none reaches 0.97
  weights   ARGS as the Compare tab's "two-objectives" scenario runs it (assets/scenarios.json: its
            settings, at reward weights (1, 0), (0.5, 0.5), (0, 1) of sentiment and informativeness): both
            rewards move monotonically, each by >= 0.2 end to end; then the same weightings at the
            preset's default ARGS settings (reported)
  transfer  CD against TQ* (direct, and indirect on the `-indirect` preset) at k = 10, L = 8 and the
            weight the preset starts TQ* at (embedded: 20):
            TQ* >= CD (indirect reported as measured), and TQ*'s paired win rate over CD per prompt; then
            CD with greedy rollouts like TQ*'s (reported: the rollout model is the only difference left)
  prs       PRS at N0 = N1 = 4 against best-of-N at N = 8: PRS >= best-of-N
  deal      greedy against DeAL on held-out keyword prompts, reward `keywords` (coverage): DeAL >= greedy + 0.15
Prompts: assets/prompts/heldout_reviews.jsonl and heldout_keywords.jsonl (`python -m backends.zoo.heldout
--write` makes them from names and keyword sets the corpus never used). Prints numbers; not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from backends import api
from backends.decoders import DECODERS
from playground.scenarios import load_scenarios

ROOT = Path(__file__).resolve().parents[1]
REVIEWS, KEYWORDS = ROOT / "assets/prompts/heldout_reviews.jsonl", ROOT / "assets/prompts/heldout_keywords.jsonl"
GUIDED = ("args", "rad", "arm", "cd", "tqstar", "deal", "best_of_n", "prs")
STRONG = {"args", "rad", "arm"}  # held-out bar +0.15 over sampling; the others +0.10
SECTIONS = ("defaults", "weights", "transfer", "prs", "deal")


class Claims:
    """One evaluator engine and the run's settings; each section returns its table's rows."""

    def __init__(self, preset: str, limit: int, max_new: int, out: Path):
        self.engine = api.engine()
        self.preset, self.limit, self.max_new, self.out = preset, limit, max_new, out
        self.rewards = dict(api.preset(preset).default_rewards)
        if not self.rewards:
            raise SystemExit(f"preset {preset!r} has no default reward to measure against")

    def evaluate(self, name: str, specs: Sequence[str], prompts: Path = REVIEWS, rewards: dict | None = None,
                 preset: str | None = None, **options) -> dict:
        """The evaluator's results.json for the decoder specs over the prompts (`options`: its other flags)."""
        t0 = time.perf_counter()
        res = api.evaluate(prompts, list(specs), self.out / name, on=self.engine, quiet=True, embedder="none",
                           rewards=rewards or self.rewards, preset=preset or self.preset, limit=self.limit,
                           max_new_tokens=self.max_new, **options)
        print(f"  [{name}: {len(specs)} decoders x {self.limit} prompts in {time.perf_counter() - t0:.0f} s]",
              flush=True)
        return res

    def run(self, name: str, specs: Sequence[str], **kwargs) -> dict[str, dict]:
        """label -> {"reward": mean, part: mean, ...} of each decoder spec (arguments as `evaluate`)."""
        return means(self.evaluate(name, specs, **kwargs))

    def defaults(self) -> list[list]:
        got = self.run("defaults", ["sampling", *GUIDED])
        base = got["sampling"]["reward"]
        rows = [["sampling", f"{base:.3f}", "", "", ""]]
        for name in GUIDED:
            r, bar = got[name]["reward"], 0.15 if name in STRONG else 0.10
            rows.append([name, f"{r:.3f}", f"{r - base:+.3f}", f">= +{bar:.2f}, < 0.97",
                         _ok(r - base >= bar and r < 0.97)])
        return rows

    def weights(self) -> list[list]:
        """ARGS as the "two-objectives" scenario runs it (its panels' settings and weightings): the bar; then the
        same weightings at the preset's default ARGS settings, reported."""
        scenario = next((s for s in load_scenarios() if s.name == "two-objectives"), None)
        if scenario is None or len(self.rewards) < 2:
            return [["(no two-objectives scenario, or the preset's default reward has one objective)", "", "", "", ""]]
        runs = [(_spec(p.decoder, p.config), p.weights or scenario.weights) for p in scenario.panels]
        first = runs[0][1]  # a: the objective the first panel weighs most (its weight falls panel by panel)
        a, b = sorted(first, key=lambda r: -first[r])[:2]
        rows = self._weightings("scenario", runs, a, b, bar=True)
        start = ",".join(f"{k}={v:g}" for k, v in api.preset(self.preset).decoder_defaults.get("args", {}).items())
        rows += self._weightings(f"preset start ({start or 'args defaults'})", [("args", w) for _, w in runs], a, b,
                                 bar=False)
        return rows

    def _weightings(self, name: str, runs: list[tuple[str, dict]], a: str, b: str, bar: bool) -> list[list]:
        points = []
        for i, (spec, weights) in enumerate(runs):
            got = self.run(f"weights-{name.split()[0]}-{i}", [spec], rewards=weights)[spec]
            points.append((spec, weights, got.get(a, float("nan")), got.get(b, float("nan"))))
        ra, rb = [p[2] for p in points], [p[3] for p in points]
        down, up = (ra[0] >= ra[1] >= ra[2]), (rb[0] <= rb[1] <= rb[2])
        rows = [[f"{name}: {spec} at {a}={w.get(a, 0):g}, {b}={w.get(b, 0):g} -> {a}, {b}", f"{x:.3f}", f"{y:.3f}",
                 "", ""] for spec, w, x, y in points]
        verdict = f"monotonic: {a} {'yes' if down else 'no'}, {b} {'yes' if up else 'no'}"
        rows.append([f"{name}: end to end ({verdict})", f"{ra[0] - ra[2]:+.3f}", f"{rb[2] - rb[0]:+.3f}",
                     "monotonic, each >= 0.2" if bar else "(reported)",
                     _ok(down and up and ra[0] - ra[2] >= 0.2 and rb[2] - rb[0] >= 0.2) if bar else ""])
        return rows

    def transfer(self) -> list[list]:
        # the same weight for both: where the preset starts TQ* (embedded: 20), else TQ*'s own default
        lam = api.preset(self.preset).filled("tqstar", {}).get("lam", DECODERS.card("tqstar").Config().lam)
        shared = f"k=10,rollout_len=8,lam={lam:g}"
        cd, tq = f"cd:{shared}", f"tqstar:{shared}"
        # CD samples its rollouts (Q of the base policy, Mudgal et al.), TQ* rolls out greedily (the official
        # code): the same CD with greedy rollouts leaves the rollout model as the only difference.
        cd_greedy = f"{cd},rollout_temperature=0"
        res = self.evaluate("transfer-direct", [cd, cd_greedy, tq], compare=[(tq, cd), (tq, cd_greedy)])
        got = means(res)
        wins = {c["b"]: c for c in res["comparisons"]}  # per prompt: how much of a mean gap is a few prompts
        base, direct = got[cd]["reward"], got[tq]["reward"]
        indirect_preset = f"{self.preset}-indirect"  # its baseline is aligned to politeness
        spec = f"{tq},transfer=indirect,baseline_reward=politeness"
        indirect = (self.run("transfer-indirect", [spec], preset=indirect_preset)[spec]["reward"]
                    if indirect_preset in self.engine.presets else None)
        rows = [["cd", f"{base:.3f}", "", "", ""],
                ["tqstar direct", f"{direct:.3f}", f"{direct - base:+.3f}", ">= cd", _ok(direct >= base)],
                _win_row("tqstar direct: paired win rate over cd", wins[cd])]
        if indirect is not None:
            rows.append(["tqstar indirect", f"{indirect:.3f}", f"{indirect - base:+.3f}", "(reported)", ""])
        greedy = got[cd_greedy]["reward"]
        rows += [["cd with greedy rollouts (TQ*'s scheme: only the rollout model differs)", f"{greedy:.3f}",
                  f"{greedy - base:+.3f}", "(reported)", ""],
                 ["tqstar direct against it", f"{direct:.3f}", f"{direct - greedy:+.3f}", "(reported)", ""],
                 _win_row("tqstar direct: paired win rate over cd with greedy rollouts", wins[cd_greedy])]
        return rows

    def prs(self) -> list[list]:
        got = self.run("prs", ["best_of_n:n=8", "prs:n0=4,n1=4"])
        bon, prs = got["best_of_n:n=8"]["reward"], got["prs:n0=4,n1=4"]["reward"]
        return [["best_of_n n=8", f"{bon:.3f}", "", "", ""],
                ["prs n0=n1=4", f"{prs:.3f}", f"{prs - bon:+.3f}", ">= best-of-N", _ok(prs >= bon)]]

    def deal(self) -> list[list]:
        got = self.run("deal", ["sampling:temperature=0", "deal"], prompts=KEYWORDS, rewards={"keywords": 1.0})
        greedy, deal = got["sampling:temperature=0"]["reward"], got["deal"]["reward"]
        return [["greedy", f"{greedy:.3f}", "", "", ""],
                ["deal (defaults)", f"{deal:.3f}", f"{deal - greedy:+.3f}", ">= +0.15", _ok(deal - greedy >= 0.15)]]


def means(res: dict) -> dict[str, dict]:
    """label -> {"reward": mean, part: mean, ...} from the evaluator's results."""
    return {d["label"]: {"reward": d["metrics"]["reward"]["mean"],
                         **{k: v["mean"] for k, v in d.get("reward_parts", {}).items()}} for d in res["decoders"]}


def _spec(decoder: str, config: dict) -> str:
    """The evaluator's decoder spec ("args:w=3") for a scenario panel's settings."""
    return decoder + (":" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in config.items()) if config else "")


def _win_row(label: str, win: dict) -> list:
    return [f"{label} (95% interval over prompts; wins/ties/losses)",
            f"{win['win_rate']:.2f} ({win['lo']:.2f}-{win['hi']:.2f})", f"{win['wins']}/{win['ties']}/{win['losses']}",
            "(reported)", ""]


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


HEADERS = {"weights": ("first reward", "second reward")}  # the other sections: a reward and its gain


def table(title: str, rows: list[list]) -> str:
    first, second = HEADERS.get(title, ("reward", "vs reference"))
    head = [f"| {title} | {first} | {second} | bar | ok |", "|---|---:|---:|---|---|"]
    return "\n".join(head + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    p.add_argument("--limit", type=int, default=32, help="held-out prompts per run (default 32)")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--preset", default="embedded")
    p.add_argument("--out", type=Path, default=None, help="keep the evaluator's runs here (default: a temp folder)")
    args = p.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        p.error(f"--only: unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    for path in (REVIEWS, KEYWORDS):
        if not path.is_file():
            p.error(f"{path.relative_to(ROOT)} is missing: write it with `python -m backends.zoo.heldout --write`")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="zoo-claims-") as tmp:
        claims = Claims(args.preset, args.limit, args.max_new_tokens, args.out or Path(tmp))
        print(f"preset {args.preset}, default reward {claims.rewards}, {args.limit} held-out prompts, "
              f"{args.max_new_tokens} new tokens, seed 0")
        failed = 0
        for section in wanted:
            rows = getattr(claims, section)()
            failed += sum(1 for r in rows if r[-1] == "NO")
            print(table(section, rows), flush=True)
        print(f"zoo_claims bars_missed={failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
