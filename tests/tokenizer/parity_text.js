// Builds the parity/benchmark text (>= 1 MB, deterministic) from files that Debian
// packages install (bible-kjv, fortunes-zh, C headers) plus generated stretches that
// stress the GPT-2 pattern: numbers, runs of spaces/tabs/newlines, contractions with
// straight and curly quotes and any case, emoji and mixed scripts.
// Also exports encodeChunked(): the gpt-3-encoder's encode() on pieces of the text cut
// where a pre-tokenizer match always ends, because its encode() is quadratic in the
// number of tokens of one call.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function rng(seed) {  // xorshift32: a fixed sequence on every machine
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

function validUtf8(buf) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch (e) {
    return false;
  }
}

// Cut at a character boundary no later than n UTF-16 units.
function head(s, n) {
  if (s.length <= n) return s;
  let cut = n;
  if (cut > 0 && s.charCodeAt(cut - 1) >= 0xd800 && s.charCodeAt(cut - 1) < 0xdc00) cut--;
  return s.slice(0, cut);
}

function bible(maxChars) {
  try {
    const out = execFileSync('bible', ['Gen1:1-Rev22:21'], { maxBuffer: 64 << 20 }).toString('utf8');
    return head(out, maxChars);
  } catch (e) {
    throw new Error('cannot run `bible` (Debian package bible-kjv): ' + e.message);
  }
}

function headers(maxChars) {
  const dir = '/usr/include';
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.h')).sort();
  let out = '';
  for (const n of names) {
    const buf = fs.readFileSync(path.join(dir, n));
    if (!validUtf8(buf)) continue;
    out += buf.toString('utf8');
    if (out.length >= maxChars) break;
  }
  if (out.length < maxChars / 2) throw new Error('too little C source under /usr/include');
  return head(out, maxChars);
}

function chinese(maxChars) {
  let out = '';
  for (const n of ['chinese', 'tang300', 'song100']) {
    const p = path.join('/usr/share/games/fortunes', n);
    if (!fs.existsSync(p)) throw new Error(p + ' is missing (Debian package fortunes-zh)');
    const buf = fs.readFileSync(p);
    out += buf.toString('utf8');
  }
  return head(out, maxChars);
}

function numbers(r, n) {
  const parts = [];
  for (let i = 0; i < n; i++) {
    switch (r(8)) {
      case 0: parts.push(String(r(1000000000))); break;
      case 1: parts.push(`${r(100)}.${r(100000)}`); break;
      case 2: parts.push(`${1900 + r(200)}-${1 + r(12)}-${1 + r(28)}`); break;
      case 3: parts.push(`+1 (${r(1000)}) ${r(1000)}-${r(10000)}`); break;
      case 4: parts.push(`${r(10)},${r(1000)},${r(1000)}`); break;
      case 5: parts.push(`x${r(100)}y${r(100)}`); break;
      case 6: parts.push(`${r(100)}%`); break;
      default: parts.push(`v${r(10)}.${r(20)}.${r(100)}`);
    }
    parts.push([' ', ', ', '\n', ' = ', '\t'][r(5)]);
  }
  return parts.join('');
}

function whitespace(r, n) {
  const words = ['alpha', 'beta', '42', '!', 'x', 'Yes', '—', 'über'];
  const spaces = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', ' \n', '\n ', ' \t ', '\r\n', '    ', '\u00a0', ' \u3000'];
  let out = '';
  for (let i = 0; i < n; i++) out += words[r(words.length)] + spaces[r(spaces.length)];
  return out + '   \n\n  \t';
}

function contractions(r, n) {
  const subj = ['I', 'you', 'He', 'SHE', 'it', 'We', 'THEY', 'John', 'the cat', 'Rock', "rock'n"];
  const tails = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D",
    '\u2019s', '\u2019re', '\u2019ll', '\u2019t', "'", "''", "'x", "'sa", "'llama", '\u2018quoted\u2019', '"said"'];
  let out = '';
  for (let i = 0; i < n; i++) {
    out += subj[r(subj.length)] + tails[r(tails.length)] + [' ', '. ', ', ', '\n', "' ", " '"][r(6)];
  }
  return out;
}

function mixed(r, n) {
  const bits = ['😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '🎉🎉', '❤️', 'Привет мир', 'Γειά σου', 'مرحبا بالعالم', 'नमस्ते',
    'こんにちは世界', '한국어 텍스트', 'naïve café', 'Ångström', 'e\u0301', 'ﬁne', 'ǅemal', '½ ² ³ Ⅻ ٣',
    '₂O', '∑x²', '→', '«citation»', '中文English混合', 'αβγ123', 'ÆØÅ', 'İstanbul', 'ß', '\u200d', '🙂x', '#tag', '@user',
    'https://example.org/a?b=c&d=e', 'C++20', 'e.g.', '...', '?!', '$100', '100$', '<tag attr="v">'];
  let out = '';
  for (let i = 0; i < n; i++) out += bits[r(bits.length)] + [' ', '', '\n', '  ', ', '][r(5)];
  return out;
}

function buildText() {
  const r = rng(20240601);
  const parts = [
    bible(520000),
    headers(260000),
    chinese(120000),  // ~360 KB of UTF-8
    numbers(r, 6000),
    whitespace(r, 6000),
    contractions(r, 6000),
    mixed(r, 6000),
  ];
  // Interleave a little so transitions between kinds of text are covered too.
  let text = '';
  for (let round = 0; round < 4; round++) {
    for (const p of parts) {
      const n = Math.ceil(p.length / 4);
      text += head(p.slice(round * n), n) + (round % 2 ? '\n' : ' ');
    }
  }
  return text;
}

// Cut points that are match boundaries in any context: a '\n' with non-space characters
// on both sides is matched alone (by \s+ inside the text, by \s+(?!\S) at a chunk end).
function encodeChunked(encode, text, chunk = 4096) {
  const ids = [];
  let start = 0;
  const ws = /\s/u;
  while (start < text.length) {
    let end = Math.min(text.length, start + chunk);
    while (end < text.length &&
           !(end - start >= 2 && text[end - 1] === '\n' && !ws.test(text[end - 2]) && !ws.test(text[end]))) end++;
    const part = encode(text.slice(start, end));
    for (const id of part) ids.push(id);
    start = end;
  }
  return ids;
}

module.exports = { buildText, encodeChunked };
