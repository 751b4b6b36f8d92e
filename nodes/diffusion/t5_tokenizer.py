"""The T5 tokenizer (SentencePiece unigram, as used by T5-XXL in SD3 and Flux), offline.

No T5 encoder file carries its tokenizer. It is read, in this order, from:

1. ``<model>.tokenizer.json`` next to the T5 file, or ``tokenizer.json`` / ``t5_tokenizer/tokenizer.json`` in the
   same folder (a Hugging Face fast-tokenizer file, as in google/t5-v1_1-xxl or a Flux/SD3 diffusers folder's
   ``tokenizer_2``/``tokenizer_3``);
2. ``assets/t5_tokenizer/tokenizer.json.gz`` shipped with NodeFlow (Google's T5 vocabulary, Apache-2.0; where the
   copy came from is in that folder's LICENSE).

The ``tokenizers`` library reads it (no sentencepiece or protobuf needed). Ids exclude the end token ``</s>``,
which the encoder adds (ComfyUI's T5 tokenization: no start token, ``</s>`` after the text, ``<pad>`` to the
family's minimum length: 77 for SD3, 256 for Flux, never truncated).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from nodeflow.paths import ASSETS_DIR

SHIPPED = ASSETS_DIR / "t5_tokenizer" / "tokenizer.json.gz"


class T5TokenizerMissing(FileNotFoundError):
    pass


def tokenizer_candidates(model_path: Path | None) -> list[Path]:
    out = []
    if model_path is not None:
        folder = Path(model_path).parent
        out += [folder / (Path(model_path).stem + ".tokenizer.json"), folder / "tokenizer.json",
                folder / "t5_tokenizer" / "tokenizer.json"]
    out.append(SHIPPED)
    return out


def find_tokenizer_file(model_path: Path | None) -> Path:
    candidates = tokenizer_candidates(model_path)
    for path in candidates:
        if path.is_file():
            return path
    raise T5TokenizerMissing("no T5 tokenizer found (a T5 file doesn't contain one, and NodeFlow's copy is missing "
                             f"from {SHIPPED}): put T5's tokenizer.json (from google/t5-v1_1-xxl or a Flux / SD3 "
                             "diffusers folder) at " + " or ".join(str(p) for p in candidates[:3]))


class T5Tokenizer:
    def __init__(self, path: Path):
        import gzip

        from tokenizers import Tokenizer

        self.path = Path(path)
        if self.path.suffix == ".gz":
            self._tok = Tokenizer.from_str(gzip.decompress(self.path.read_bytes()).decode("utf-8"))
        else:
            self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.no_truncation()
        self.eos_token_id = self._id("</s>", 1)
        self.pad_token_id = self._id("<pad>", 0)

    def _id(self, token: str, default: int) -> int:
        found = self._tok.token_to_id(token)
        return default if found is None else int(found)

    def __call__(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        return list(self._tok.encode(text, add_special_tokens=False).ids)


@lru_cache(maxsize=8)
def t5_tokenizer(path: str) -> T5Tokenizer:
    return T5Tokenizer(Path(path))
