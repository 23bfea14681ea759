"""The tokenizer parity and benchmark text (>= 1 MB, deterministic).

Built from files Debian packages install (bible-kjv, fortunes-zh, C headers) plus
generated stretches that stress the GPT-2 pattern: numbers, runs of spaces, tabs and
newlines, contractions with straight and curly quotes in any case, emoji and mixed
scripts, and unusual code points (noncharacters, private use, unassigned, controls,
combining marks, bidi and zero-width characters).

    python parity_text.py OUT.txt           writes the valid-UTF-8 text
    python parity_text.py --invalid OUT.bin writes text with invalid UTF-8 sequences
"""
import os
import subprocess
import sys


class Rng:
    """xorshift32: the same sequence on every machine."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF or 1

    def __call__(self, n):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s % n


def bible(max_chars):
    try:
        out = subprocess.run(["bible", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"cannot run `bible` (Debian package bible-kjv): {e}")
    return out.decode("utf-8")[:max_chars]


def headers(max_chars):
    out = []
    total = 0
    for name in sorted(os.listdir("/usr/include")):
        if not name.endswith(".h"):
            continue
        try:
            with open(os.path.join("/usr/include", name), "rb") as f:
                s = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        out.append(s)
        total += len(s)
        if total >= max_chars:
            break
    if total < max_chars // 2:
        raise SystemExit("too little C source under /usr/include")
    return "".join(out)[:max_chars]


def chinese(max_chars):
    out = []
    for name in ("chinese", "tang300", "song100"):
        p = os.path.join("/usr/share/games/fortunes", name)
        if not os.path.exists(p):
            raise SystemExit(f"{p} is missing (Debian package fortunes-zh)")
        with open(p, "rb") as f:
            out.append(f.read().decode("utf-8"))
    return "".join(out)[:max_chars]


def numbers(r, n):
    parts = []
    for _ in range(n):
        k = r(8)
        if k == 0:
            parts.append(str(r(1000000000)))
        elif k == 1:
            parts.append(f"{r(100)}.{r(100000)}")
        elif k == 2:
            parts.append(f"{1900 + r(200)}-{1 + r(12)}-{1 + r(28)}")
        elif k == 3:
            parts.append(f"+1 ({r(1000)}) {r(1000)}-{r(10000)}")
        elif k == 4:
            parts.append(f"{r(10)},{r(1000)},{r(1000)}")
        elif k == 5:
            parts.append(f"x{r(100)}y{r(100)}")
        elif k == 6:
            parts.append(f"{r(100)}%")
        else:
            parts.append(f"v{r(10)}.{r(20)}.{r(100)}")
        parts.append([" ", ", ", "\n", " = ", "\t"][r(5)])
    return "".join(parts)


def whitespace(r, n):
    words = ["alpha", "beta", "42", "!", "x", "Yes", "\u2014", "\u00fcber"]
    spaces = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", " \n", "\n ", " \t ", "\r\n",
              "    ", "\u00a0", " \u3000", "\u2028", "\u0085", "\u2003\u2003", "\x0b", "\x0c"]
    return "".join(words[r(len(words))] + spaces[r(len(spaces))] for _ in range(n)) + "   \n\n  \t"


def contractions(r, n):
    subj = ["I", "you", "He", "SHE", "it", "We", "THEY", "John", "the cat", "Rock", "rock'n"]
    tails = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D",
             "\u2019s", "\u2019re", "\u2019ll", "\u2019t", "'", "''", "'x", "'sa", "'llama",
             "\u2018quoted\u2019", '"said"']
    seps = [" ", ". ", ", ", "\n", "' ", " '"]
    return "".join(subj[r(len(subj))] + tails[r(len(tails))] + seps[r(len(seps))] for _ in range(n))


def mixed(r, n):
    bits = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
            "\U0001F1EB\U0001F1F7", "\U0001F389\U0001F389", "\u2764\ufe0f", "Привет мир", "Γειά σου",
            "مرحبا بالعالم", "नमस्ते", "こんにちは世界", "한국어 텍스트", "naïve café", "Ångström", "e\u0301",
            "\ufb01ne", "\u01c5emal", "½ ² ³ Ⅻ ٣", "₂O", "∑x²", "→", "«citation»", "中文English混合",
            "αβγ123", "ÆØÅ", "İstanbul", "ß", "\u200d", "\U0001F642x", "#tag", "@user",
            "https://example.org/a?b=c&d=e", "C++20", "e.g.", "...", "?!", "$100", "100$", '<tag attr="v">']
    seps = [" ", "", "\n", "  ", ", "]
    return "".join(bits[r(len(bits))] + seps[r(len(seps))] for _ in range(n))


def unusual(r, n):
    """Valid UTF-8 that tokenizers often get wrong: noncharacters, private use,
    unassigned and the last code point, C0/C1 controls, a BOM, combining runs,
    bidi and zero-width marks, the replacement character, letters outside the BMP."""
    bits = ["\ufffe", "\uffff", "\U0010FFFF", "\U0010FFFD", "\ue000\uf8ff", "\U000F0000",
            "\u0378", "\U000E0001", "\U0001FFFF", "\x00", "\x01\x02", "\x1b[0m", "\x7f", "\x80\x9f",
            "\x1c\x1d\x1e\x1f", "\ufeff", "a\u0300\u0301\u0302\u0303", "\u200b", "\u200e\u200f",
            "\u202e", "\u2066x\u2069", "\ufffd", "\U00010400\U00010428", "\U0001D400\U0001D7CE",
            "\U00020000\U0002A6D6", "\u3007\u3021", "\u16ee", "\U000E0020", "\u180e", "\u2060"]
    seps = [" ", "", "\n", "x", "1", " \u00a0"]
    return "".join(bits[r(len(bits))] + seps[r(len(seps))] for _ in range(n))


def build_text():
    r = Rng(20240601)
    parts = [bible(520000), headers(260000), chinese(120000), numbers(r, 6000),
             whitespace(r, 6000), contractions(r, 6000), mixed(r, 6000), unusual(r, 4000)]
    # Interleave so transitions between kinds of text are covered too.
    out = []
    for rnd in range(4):
        for p in parts:
            n = -(-len(p) // 4)
            out.append(p[rnd * n:(rnd + 1) * n] + ("\n" if rnd % 2 else " "))
    return "".join(out)


def build_invalid():
    """Bytes with invalid UTF-8 between valid words: stray continuation bytes, truncated
    sequences, overlong forms, encoded surrogates, bytes 0xF5-0xFF, code points past
    U+10FFFF, each next to letters, digits, spaces and punctuation."""
    r = Rng(7)
    bad = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc3", b"\xe4\xb8", b"\xf0\x9f\x98", b"\xed\xa0\x80",
           b"\xed\xbf\xbf", b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xff", b"\xfe\xfe",
           b"\xe0\x80\x80", b"\xc1\xbf", b"\x80\x80\x80"]
    good = ["hello", " world", "42", " 7", "\u4e2d\u6587", " ", "  ", "\n", "'s", "!", "?!", "\u00e9t\u00e9", "\t"]
    out = bytearray()
    for _ in range(20000):
        out += good[r(len(good))].encode("utf-8")
        if r(3) == 0:
            out += bad[r(len(bad))]
    return bytes(out)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--invalid":
        with open(sys.argv[2], "wb") as f:
            f.write(build_invalid())
    elif len(sys.argv) == 2:
        with open(sys.argv[1], "wb") as f:
            f.write(build_text().encode("utf-8"))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
