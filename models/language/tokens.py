"""Readable token labels for every tokenizer family (WordPiece, byte-level BPE, SentencePiece)."""
from __future__ import annotations

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


def _marks_word_starts(pieces: list[str], marker: str, vocab_pieces) -> bool:
    return any(p.startswith(marker) for p in vocab_pieces)


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
        try:
            marker = "▁" if any(p.startswith("▁") for p in list(tokenizer.get_vocab())[:5000]) else None
        except Exception:  # a tokenizer without a vocabulary listing
            marker = None
    out: list[Token] = []
    prev_special = True
    for i, (tid, piece) in enumerate(zip(ids, pieces)):
        piece = piece if piece is not None else ""
        if tid in specials:
            out.append(Token(tid, piece, piece, True, False))
            prev_special = True
            continue
        continuation = False
        if byte_level:
            start = piece.startswith("Ġ")
            body = piece[1:] if start else piece
            raw = bytes(decoder[c] for c in body if c in decoder) if all(c in decoder for c in body) else None
            if raw is None:
                text = body
            else:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = "<" + " ".join(f"{b:02x}" for b in raw) + ">"
            if start:
                label = _visible(text) if text.strip() == "" else text
                if not text:
                    label = "␣"
            else:
                continuation = not prev_special and i > 0 and not _starts_fresh(text)
                label = _visible(text) if text.strip() == "" else text
        elif piece.startswith("##"):
            continuation = True
            label = piece[2:]
        elif marker == "▁":
            if piece.startswith("▁"):
                body = piece[1:]
                label = body if body else "␣"
            else:
                body = piece
                continuation = not prev_special and i > 0 and not _starts_fresh(body)
                label = _byte_piece(body)
        else:
            label = _visible(piece) if piece.strip() == "" else piece
        if continuation:
            label = "##" + label
        out.append(Token(tid, piece, label, False, continuation))
        prev_special = False
    return out


def _starts_fresh(text: str) -> bool:
    """A piece that cannot continue a word: whitespace, punctuation, a line break."""
    return not text or not (text[0].isalnum() or text[0] == "<")


def _byte_piece(piece: str) -> str:
    """SentencePiece byte fallback <0xE6> stays as its byte; whitespace made visible."""
    if piece.startswith("<0x") and piece.endswith(">"):
        return "<" + piece[3:-1].lower() + ">"
    return _visible(piece) if piece.strip() == "" else piece
