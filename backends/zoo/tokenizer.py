"""The zoo's byte-level BPE tokenizer: trained on the corpus, saved for `AutoTokenizer`.

One special token, `<|endoftext|>`, serves as bos, eos, pad and unk. Byte-level pre-tokenization
without a prefix space and no normalizer, so `decode(encode(text)) == text` for every string.
This module trains and saves; it knows nothing about models or the corpus generator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = field(
        default=4096, metadata={"help": "BPE vocabulary cap, special token included; the zoo's corpus saturates "
                                        "below it (every word one token), so sampled text has no misspellings"}
    )
    min_frequency: int = field(default=2, metadata={"help": "merges seen fewer times are not learned"})
    model_max_length: int = field(default=512, metadata={"help": "recorded in tokenizer_config.json"})

    def __post_init__(self) -> None:
        if not 257 <= self.vocab_size <= 65536:
            raise ValueError(f"`vocab_size` has to be in [257, 65536], but is {self.vocab_size}")
        if self.min_frequency < 1:
            raise ValueError(f"`min_frequency` has to be >= 1, but is {self.min_frequency}")

    def to_dict(self) -> dict:
        return asdict(self)


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig):
    """A `PreTrainedTokenizerFast` trained on `texts` (byte-level BPE, `<|endoftext|>` special)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=EOS,
        eos_token=EOS,
        pad_token=EOS,
        unk_token=EOS,
        clean_up_tokenization_spaces=False,
        model_max_length=config.model_max_length,
        padding_side="right",
    )


def load_tokenizer(path: Path):
    """The saved tokenizer, offline."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def round_trip_failures(tokenizer, texts: Iterable[str]) -> list[str]:
    """Texts whose decode(encode(text)) differs from the text (empty when all round-trip)."""
    texts = list(texts)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    decoded = tokenizer.batch_decode(encoded, clean_up_tokenization_spaces=False)
    return [text for text, back in zip(texts, decoded, strict=True) if text != back]
