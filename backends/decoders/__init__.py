"""Decoders: the contract and every registered algorithm (importing this registers them)."""

from backends.decoders import args, arm, best_of_n, cd, deal, prs, rad, sampling, tqstar  # noqa: F401  (registration)
from backends.decoders.base import (
    DECODERS,
    DecodeContext,
    Decoder,
    GenerationRequest,
    Scores,
    TokenwiseDecoder,
)

__all__ = ["DECODERS", "DecodeContext", "Decoder", "GenerationRequest", "Scores", "TokenwiseDecoder"]
