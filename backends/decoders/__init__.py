"""Decoders: the contract and every registered algorithm (importing this registers them).

Every module of this package is imported (its `@DECODERS.register` runs), the decoders of installed
plugins (entry-point group `decoder_playground.decoders`, docs/PLUGINS.md) join on the first look-up.
"""

from backends.decoders.base import (
    DECODERS,
    DecodeContext,
    Decoder,
    GenerationRequest,
    Run,
    Scores,
    TokenwiseDecoder,
)
from backends.registry import import_modules

import_modules(__name__, __path__)

__all__ = ["DECODERS", "DecodeContext", "Decoder", "GenerationRequest", "Run", "Scores", "TokenwiseDecoder"]
