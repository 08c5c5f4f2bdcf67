"""Decoders: the contract, the registry, and every algorithm (one module each).

Importing this package imports no torch: it declares every decoder with its card
(`backends.decoders.configs`), which is all the UI needs to build its page. A decoder's module is
imported by `DECODERS.get(name)`; the contract (`Decoder`, `TokenwiseDecoder`, `DecodeContext`,
...) by its first use here. The decoders of installed plugins (entry-point group
`decoder_playground.decoders`, docs/PLUGINS.md) join on the first look-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backends.decoders.configs import DECODERS, DecoderCard
from backends.decoders.request import GenerationRequest

if TYPE_CHECKING:
    from backends.decoders.base import DecodeContext, Decoder, Run, Scores, TokenwiseDecoder

_CONTRACT = ("DecodeContext", "Decoder", "Run", "Scores", "TokenwiseDecoder")  # in backends.decoders.base (torch)


def __getattr__(name: str) -> Any:
    if name in _CONTRACT:
        return getattr(importlib.import_module("backends.decoders.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DECODERS", "DecodeContext", "Decoder", "DecoderCard", "GenerationRequest", "Run", "Scores",
           "TokenwiseDecoder"]
