"""Readable token labels for every tokenizer family (WordPiece, byte-level BPE, SentencePiece)."""
from __future__ import annotations

import threading
import weakref
from functools import lru_cache

from models.language.model import Token

_VISIBLE = {"\n": "⏎", "\t": "⇥", " ": "␣", "\r": "↵"}


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: printable character -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _visible(text: str) -> str:
    return "".join(_VISIBLE.get(ch, ch) for ch in text)


def _is_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    try:
        pre = backend.pre_tokenizer
        dec = backend.decoder
        return "ByteLevel" in repr(pre) or "ByteLevel" in repr(dec)
    except AttributeError:
        return False


_MARKERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # tokenizer → its word-start marker (or None)
_MARKERS_LOCK = threading.Lock()


def _vocab_marker(tokenizer) -> str | None:
    """"▁" when the tokenizer's vocabulary marks word starts with it (SentencePiece), else None: read once per
    tokenizer (listing a vocabulary costs ~90 ms, more than the rest of a call), kept while the tokenizer lives."""
    try:
        with _MARKERS_LOCK:
            if tokenizer in _MARKERS:
                return _MARKERS[tokenizer]
    except TypeError:  # a tokenizer that cannot be weakly referenced: read every time
        pass
    try:
        marker = "▁" if any(p.startswith("▁") for p in list(tokenizer.get_vocab())[:5000]) else None
    except Exception:  # a tokenizer without a vocabulary listing
        marker = None
    try:
        with _MARKERS_LOCK:
            _MARKERS[tokenizer] = marker
    except TypeError:
        pass
    return marker


def token_list(tokenizer, ids) -> list[Token]:
    """One Token per id: the piece, a readable label, whether special, whether it continues the previous word."""
    ids = [int(i) for i in ids]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    specials = set(tokenizer.all_special_ids)
    byte_level = _is_byte_level(tokenizer)
    decoder = _byte_decoder() if byte_level else {}
    vocab_sample = pieces
    marker = "Ġ" if byte_level else ("▁" if any(p and p.startswith("▁") for p in vocab_sample) else None)
    if marker is None and not byte_level:
        marker = _vocab_marker(tokenizer)
    out: list[Token] = []
    prev_word = False  # the previous token ends inside a word (a letter, a digit, or an incomplete byte run)
    for tid, piece in zip(ids, pieces):
        piece = piece if piece is not None else ""
        if tid in specials:
            out.append(Token(tid, piece, piece, True, False))
            prev_word = False
            continue
        continuation = False
        if byte_level:
            start = piece.startswith("Ġ")
            body = piece[1:] if start else piece
            fragment = False
            if all(c in decoder for c in body):
                raw = bytes(decoder[c] for c in body)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text, fragment = "<" + " ".join(f"{b:02x}" for b in raw) + ">", True
            else:
                text = body
            continuation = not start and prev_word and (fragment or _wordy(text[:1]))
            label = text if (fragment or text.strip()) else (_visible(text) or "␣")
            prev_word = fragment or _wordy(text[-1:])
        elif piece.startswith("##"):
            continuation = True
            label = piece[2:]
            prev_word = True
        elif marker == "▁":
            start = piece.startswith("▁")
            body = piece[1:] if start else piece
            fragment = body.startswith("<0x") and body.endswith(">")
            continuation = not start and prev_word and (fragment or _wordy(body[:1]))
            label = _byte_piece(body) if body else "␣"
            prev_word = fragment or _wordy(body[-1:])
        else:
            label = _visible(piece) if piece.strip() == "" else piece
            prev_word = _wordy(piece[-1:])
        if continuation:
            label = "##" + label
        out.append(Token(tid, piece, label, False, continuation))
    return out


def _wordy(ch: str) -> bool:
    return bool(ch) and ch.isalnum()


def _byte_piece(piece: str) -> str:
    """SentencePiece byte fallback <0xE6> stays as its byte; whitespace made visible."""
    if piece.startswith("<0x") and piece.endswith(">"):
        return "<" + piece[3:-1].lower() + ">"
    return _visible(piece) if piece.strip() == "" else piece
