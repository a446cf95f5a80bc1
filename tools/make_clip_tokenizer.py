"""Build the CLIP tokenizer files shipped in ``models/clip_tokenizer/``.

CLIP's BPE vocabulary (OpenAI CLIP, MIT licence) is published as ``bpe_simple_vocab_16e6.txt.gz``
(it ships in the ``open_clip_torch`` wheel, under ``open_clip/``). The vocabulary is derived from
the merges exactly as CLIP's ``SimpleTokenizer`` does it, and saved as a ``tokenizers`` JSON file
that both ``tokenizers`` and transformers' ``CLIPTokenizer.from_pretrained`` read.

Usage:
    python tools/make_clip_tokenizer.py PATH/bpe_simple_vocab_16e6.txt.gz models/clip_tokenizer
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path


def bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def main(src: str, out: str) -> None:
    merges = gzip.open(src).read().decode("utf-8").split("\n")
    merges = merges[1: 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab.extend("".join(p) for p in pairs)
    vocab.extend(["<|startoftext|>", "<|endoftext|>"])
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)},
                                                   ensure_ascii=False))
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in pairs)
                                        + "\n")
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer(vocab=str(out_dir / "vocab.json"), merges=str(out_dir / "merges.txt"))
    tok.model_max_length = 77
    tok.save_pretrained(str(out_dir))
    ids = tok("a photo of a cat").input_ids
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407], ids  # CLIP's published ids
    # tokenizer.json holds the same vocabulary and merges: ship it alone.
    (out_dir / "vocab.json").unlink()
    (out_dir / "merges.txt").unlink()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
