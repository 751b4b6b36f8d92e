"""Prompt weighting and 77-token chunking, the way ComfyUI does it (so shared prompts mean the same here).

Syntax (ComfyUI's, comfy/sd1_clip.py): ``(words)`` multiplies the weight by 1.1 (nested: 1.21, ...),
``(words:1.3)`` sets it, ``\\(`` and ``\\)`` are literal parentheses; square brackets have no meaning (A1111's
``[words]`` de-emphasis is not part of ComfyUI's syntax). Unbalanced parentheses are kept as text.

Chunking: each weighted segment is tokenized on its own; tokens are packed into chunks of 75 between a start and
an end token, padded to 77. A segment shorter than 8 tokens that doesn't fit the current chunk moves whole to the
next one; a longer segment is split at the chunk boundary. The weighting itself is applied to the encoder's output
(``clip_model``): a weighted token's embedding is moved away from the empty prompt's embedding at the same position,
``e = (e - e_empty) * w + e_empty`` (ComfyUI's ``ClipTokenWeightEncoder.encode_token_weights``), not A1111's
rescale-by-mean.

This module is pure Python (no torch): the tokenizer is passed in.
"""
from __future__ import annotations

import math
import re
from typing import Callable

#: Longest prompt accepted (about 12,000 tokens, 170 chunks of 75; prompts people write are a few hundred
#: characters, and a 50 MB one would run for minutes toward tens of GB).
MAX_PROMPT_CHARS = 50_000
#: Deepest nesting of parentheses accepted (each level multiplies the weight by 1.1; parsing recurses per level).
MAX_PROMPT_NESTING = 50
MAX_LENGTH = 77  # CLIP's context: start + 75 tokens + end
MAX_WORD_LENGTH = 8  # segments shorter than this are never split across chunks
EMPHASIS = 1.1

_ESCAPED_CLOSE, _ESCAPED_OPEN = "\0\1", "\0\2"

Token = tuple[int, float]  # (token id, weight); an embedding's vector stands where an id would


def _escape(text: str) -> str:
    return text.replace("\\)", _ESCAPED_CLOSE).replace("\\(", _ESCAPED_OPEN)


def _unescape(text: str) -> str:
    return text.replace(_ESCAPED_CLOSE, ")").replace(_ESCAPED_OPEN, "(")


def _top_level_groups(text: str) -> list[str]:
    """Split into plain runs and outermost ``( ... )`` groups (a stray ``)`` stays in the text)."""
    groups: list[str] = []
    current, depth = "", 0
    for char in text:
        if char == "(":
            if depth == 0:
                if current:
                    groups.append(current)
                current = "("
            else:
                current += char
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                groups.append(current + ")")
                current = ""
            else:
                current += char
        else:
            current += char
    if current:
        groups.append(current)
    return groups


def _weighted_segments(text: str, weight: float) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for group in _top_level_groups(text):
        if len(group) >= 2 and group[0] == "(" and group[-1] == ")":
            inner, inner_weight = group[1:-1], weight * EMPHASIS
            colon = inner.rfind(":")
            if colon > 0:
                try:
                    inner_weight = float(inner[colon + 1:])
                    inner = inner[:colon]
                except ValueError:
                    pass  # "(a:b)" without a number: plain emphasis, colon kept as text
            out += _weighted_segments(inner, inner_weight)
        else:
            out.append((group, weight))
    return out


def prompt_problem(text: str) -> str | None:
    """Why a prompt cannot be encoded sensibly, or None: too long, nested too deep, or a weight that is not a
    finite number ("(x:inf)" would turn the whole conditioning into NaN: a black picture, without a word)."""
    if len(text) > MAX_PROMPT_CHARS:
        return f"the prompt is {len(text):,} characters long (limit {MAX_PROMPT_CHARS:,})"
    depth = deepest = 0
    for char in _escape(text):
        depth += 1 if char == "(" else -1 if char == ")" and depth > 0 else 0
        deepest = max(deepest, depth)
    if deepest > MAX_PROMPT_NESTING:
        return f"parentheses are nested {deepest} deep (limit {MAX_PROMPT_NESTING})"
    for segment, weight in parse_weights(text):
        if not math.isfinite(weight):
            return f"the weight of {segment[:30]!r} is {weight}, not a finite number"
    return None


def parse_weights(text: str) -> list[tuple[str, float]]:
    """``"a (b:1.2) c"`` -> ``[("a ", 1.0), ("b", 1.2), (" c", 1.0)]``."""
    return [(_unescape(segment), weight) for segment, weight in _weighted_segments(_escape(text), 1.0)]


#: ``embedding:name`` as a word of its own (ComfyUI splits prompts into words at spaces and tests each word)
EMBEDDING_WORD = re.compile(r"(?<!\S)embedding:(\S+)")


def _embedding_groups(segment: str, weight: float, tokenize, embed, on_missing) -> list[list[Token]]:
    """Groups of one segment holding ``embedding:name`` words: the text around them tokenized, each embedding's
    vectors as one group. A name not found is retried without trailing commas (kept as text); otherwise it is left
    out (and passed to ``on_missing``), as ComfyUI does."""
    groups: list[list[Token]] = []
    pos = 0

    def text(piece: str) -> None:
        if piece.strip():
            groups.append([(t, weight) for t in tokenize(piece)])

    for match in EMBEDDING_WORD.finditer(segment):
        text(segment[pos:match.start()])
        pos = match.end()
        name = match.group(1)
        vectors = embed(name)
        leftover = ""
        if vectors is None and name.rstrip(",") != name and name.rstrip(","):
            stripped = name.rstrip(",")
            vectors, leftover = embed(stripped), name[len(stripped):]
        if vectors is not None:
            groups.append([(v, weight) for v in vectors])
        elif on_missing is not None:
            on_missing(name)
        text(leftover)
    text(segment[pos:])
    return groups


def tokenize_weighted(text: str, tokenize: Callable[[str], list[int]], *, start: int, end: int, pad: int,
                      max_length: int = MAX_LENGTH, embed: Callable[[str], list | None] | None = None,
                      on_missing: Callable[[str], None] | None = None) -> list[list[Token]]:
    """Chunks of ``max_length`` (id, weight) pairs: start, up to 75 tokens, end, padding. Never empty.

    ``tokenize(segment)`` returns the segment's ids without start/end tokens. ``embed(name)`` (optional) returns
    the token objects of the embedding ``name`` (``embedding:name`` in the text), or None when there is none;
    ``on_missing(name)`` hears of each name left out.
    """
    groups = []
    for segment, weight in parse_weights(text):
        if not segment:
            continue
        if embed is not None and "embedding:" in segment:
            groups += _embedding_groups(segment, weight, tokenize, embed, on_missing)
        else:
            groups.append([(t, weight) for t in tokenize(segment)])
    room = max_length - 1  # the end token always gets a place
    chunks: list[list[Token]] = []
    chunk: list[Token] = [(start, 1.0)]
    for group in groups:
        splittable = len(group) >= MAX_WORD_LENGTH
        while group:
            if len(chunk) + len(group) <= room:
                chunk.extend(group)
                break
            if splittable:
                take = room - len(chunk)
                chunk.extend(group[:take])
                group = group[take:]
            chunks.append(_close(chunk, end, pad, max_length))
            chunk = [(start, 1.0)]
    chunks.append(_close(chunk, end, pad, max_length))
    return chunks


def _close(chunk: list[Token], end: int, pad: int, max_length: int) -> list[Token]:
    chunk = chunk + [(end, 1.0)]
    return chunk + [(pad, 1.0)] * (max_length - len(chunk))


def empty_chunk(*, start: int, end: int, pad: int, max_length: int = MAX_LENGTH) -> list[int]:
    """The empty prompt's ids (the reference weighted tokens are pulled away from)."""
    return [start, end] + [pad] * (max_length - 2)


def has_weights(chunks: list[list[Token]]) -> bool:
    return any(weight != 1.0 for chunk in chunks for _, weight in chunk)
