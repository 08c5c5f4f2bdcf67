"""Which model ids a visitor may name: in public mode only the presets' and the operator's allowlist.

A free-text model field (a TQ* baseline, the DPO implicit reward's aligned and reference models,
the preference reward's embedder) would otherwise let any visitor probe the server's file system
("no such folder" versus "exists but holds no model") or make the server download any hub model.
`check_model_id` decides before anything is resolved: it never touches the file system or the
network, so its answer is the same whether a path exists or not, and its message shows no server
path. Public mode is on on a Hugging Face Space (`SPACE_ID`) or with `PLAYGROUND_PUBLIC=1`; the
operator adds ids with `PLAYGROUND_MODEL_ALLOWLIST` (comma-separated). This module loads nothing.

    allowed = allowed_models(PRESETS.values())
    check_model_id("zoo:tiny-dpo-sentiment", allowed)        # -> "zoo:tiny-dpo-sentiment"
    check_model_id("../../etc", allowed)                     # ModelNotAllowed, path or not
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

PUBLIC_ENV = "PLAYGROUND_PUBLIC"
ALLOWLIST_ENV = "PLAYGROUND_MODEL_ALLOWLIST"
MAX_ID_CHARS = 200
PATH_LIKE = re.compile(r"^[./~\\]|\.\.|\\|//|^[A-Za-z]:|/.*/|\x00")


class ModelNotAllowed(ValueError):
    """A model id a visitor may not use here; the message names the field and the allowed ids."""


def public_mode(environ: Mapping[str, str] | None = None) -> bool:
    """On a Space unless PLAYGROUND_PUBLIC=0; elsewhere only with PLAYGROUND_PUBLIC=1 (or true/yes)."""
    env = os.environ if environ is None else environ
    flag = env.get(PUBLIC_ENV, "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    return flag in ("1", "true", "yes", "on") or "SPACE_ID" in env


def allowed_models(presets: Iterable[Any], environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every model id the presets name (policy, base, baseline, reward and ARM models, SAE) plus the allowlist."""
    env = os.environ if environ is None else environ
    ids: set[str] = {item.strip() for item in env.get(ALLOWLIST_ENV, "").split(",") if item.strip()}
    for preset in presets:
        ids.update(i for i in (preset.policy, preset.base, preset.baseline, preset.sae) if i)
        ids.update(ref.model for ref in preset.reward_models.values())
        ids.update(preset.arm_models.values())
    return frozenset(ids)


def check_model_id(model_id: Any, allowed: Collection[str], *, field: str = "model",
                   public: bool | None = None) -> str:
    """`model_id` when a visitor may use it; `ModelNotAllowed` naming `field` otherwise.

    Public mode (`public=None` reads the environment): only ids in `allowed`. Private mode: any
    id but an empty or unreadable one. The check is pure: no file system, no network.
    """
    if not isinstance(model_id, str) or not model_id.strip():
        raise ModelNotAllowed(f"{field}: a model id is required")
    model_id = model_id.strip()
    if len(model_id) > MAX_ID_CHARS or not model_id.isprintable():
        raise ModelNotAllowed(f"{field}: a model id is at most {MAX_ID_CHARS} printable characters")
    if not (public_mode() if public is None else public) or model_id in allowed:
        return model_id
    choices = _offered(allowed)
    if PATH_LIKE.search(model_id):
        raise ModelNotAllowed(f"{field}: folders and paths are not accepted on this public server; "
                              f"choose one of: {choices}")
    raise ModelNotAllowed(f"{field}={model_id!r} is not offered on this public server; choose one of: {choices}")


def _offered(allowed: Collection[str]) -> str:
    """The allowed ids a visitor may be told: a model given to a preset as a server folder is counted, not named."""
    named = sorted(i for i in allowed if not PATH_LIKE.search(i))
    folders = len(allowed) - len(named)
    if folders:
        named.append(f"{folders} more of the operator's presets (choose them by preset)")
    return ", ".join(named) or "none"
