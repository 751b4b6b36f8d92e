"""The CLIP BPE tokenizer, built offline from the vocabulary file shipped in ``assets/clip``.

No Stable Diffusion checkpoint contains its tokenizer and neither diffusers nor transformers ships the vocabulary,
so we build ``transformers.CLIPTokenizer`` from OpenAI's merges file the way CLIP itself does (256 byte symbols,
the same with ``</w>``, one token per merge, then the two special tokens: 49,408 ids).
"""
from __future__ import annotations

import gzip
from functools import lru_cache

from nodeflow.paths import ASSETS_DIR

BPE_FILE = ASSETS_DIR / "clip" / "bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2  # merges CLIP uses: lines 1..48894 of the file
BOS_ID, EOS_ID = 49406, 49407


def _bytes_to_unicode() -> list[str]:
    # CLIP's reversible byte -> printable-unicode table (the GPT-2 scheme).
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


@lru_cache(maxsize=None)
def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    lines = gzip.open(BPE_FILE).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:MERGE_COUNT + 1]]
    symbols = _bytes_to_unicode()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


@lru_cache(maxsize=4)
def clip_tokenizer(pad_token: str = "<|endoftext|>", max_length: int = 77):
    """A ``CLIPTokenizer`` equal to OpenAI's. SD1 pads with ``<|endoftext|>``; SD2 and SDXL's bigG pad with ``!``."""
    from transformers import CLIPTokenizer

    vocab, merges = vocab_and_merges()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), pad_token=pad_token,
                         model_max_length=max_length)
