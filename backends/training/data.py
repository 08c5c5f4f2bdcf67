"""Preference rows for `python -m backends.train`: TRL JSONL rows read, checked and formatted.

A row is `prompt`, `chosen`, `rejected`, each a string or a TRL conversation (a list of
{"role", "content"}); prompts are wrapped in the preset's template unless `template="raw"`.
Errors are `UsageError`s naming the line and the field. Reading only: no model, no training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backends.evaluation.inputs import UsageError
from backends.presets import Preset, format_prompt
from backends.training.preference import PreferenceRow


def _text(value: Any, field: str, line: int, role: str) -> str | list[dict]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                  for m in value):
        return value
    raise UsageError(f"--data line {line}: {field!r} must be a non-empty string or a list of "
                     f"{{\"role\", \"content\"}} messages ({role}), got {str(value)[:40]!r}")


def _prompt_text(prompt: str | list[dict], template: str, preset: Preset | None, tokenizer) -> str:
    if isinstance(prompt, list):  # a TRL conversation: the model's own chat template where it has one
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        users = [m["content"] for m in prompt if m.get("role", "user") == "user"]
        if not users:
            raise UsageError("--data: a conversation prompt has no user turn and the model has no chat template")
        prompt = users[-1]
    if template == "raw" or preset is None:
        return prompt
    return format_prompt(preset, prompt, tokenizer)


def _completion(value: str | list[dict]) -> str:
    if isinstance(value, str):
        return value
    replies = [m["content"] for m in value if m.get("role", "assistant") == "assistant"]
    return replies[-1] if replies else value[-1]["content"]


def read_rows(path: Path, template: str, preset: Preset | None, tokenizer) -> list[PreferenceRow]:
    """TRL preference rows from a JSONL file; errors name the line and the field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--data {path}: cannot read it ({e})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"--data line {number}: not JSON ({e.msg})") from None
        if not isinstance(item, dict):
            raise UsageError(f"--data line {number}: expected an object with prompt, chosen and rejected")
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in item]
        if missing:
            raise UsageError(f"--data line {number}: missing {missing[0]!r} (TRL rows have prompt, chosen, rejected)")
        prompt = _text(item["prompt"], "prompt", number, "the user's turn")
        chosen = _completion(_text(item["chosen"], "chosen", number, "the preferred reply"))
        rejected = _completion(_text(item["rejected"], "rejected", number, "the other reply"))
        if chosen == rejected:
            continue  # no preference signal
        rows.append(PreferenceRow(_prompt_text(prompt, template, preset, tokenizer), chosen, rejected))
    if not rows:
        raise UsageError(f"--data {path}: no preference rows with chosen != rejected")
    return rows
