// Token-for-token parity of `veritas tokenizer encode` with the gpt-3-encoder npm
// package (GPT-2's BPE in JavaScript) on >= 1 MB of varied text.
// usage: node parity.js NODE_MODULES_DIR VERITAS_BIN TOKENIZER_JSON WORK_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { buildText, encodeChunked } = require('./parity_text.js');

const [modDir, bin, tokJson, work] = process.argv.slice(2);
const enc = require(path.join(modDir, 'gpt-3-encoder'));

const textPath = path.join(work, 'parity.txt');
fs.writeFileSync(textPath, buildText(), 'utf8');
const bytes = fs.readFileSync(textPath);
const text = bytes.toString('utf8');  // exactly what veritas reads
if (bytes.length < 1000000) {
  console.error(`parity text is only ${bytes.length} bytes`);
  process.exit(1);
}

const ours = execFileSync(bin, ['tokenizer', 'encode', '--tokenizer', tokJson, textPath], { maxBuffer: 256 << 20 })
  .toString().trim().split(/\s+/).map(Number);
const t0 = Date.now();
const theirs = encodeChunked(enc.encode, text);
const secs = (Date.now() - t0) / 1000;

let first = -1;
const n = Math.min(ours.length, theirs.length);
for (let i = 0; i < n; i++) if (ours[i] !== theirs[i]) { first = i; break; }
if (first < 0 && ours.length !== theirs.length) first = n;
console.log(`text: ${bytes.length} bytes; veritas ${ours.length} tokens, gpt-3-encoder ${theirs.length} tokens (${secs.toFixed(1)} s)`);
if (first >= 0) {
  const lo = Math.max(0, first - 8);
  const show = (ids) => ids.slice(lo, first + 8).map((id) => `${id}:${JSON.stringify(enc.decode([id]))}`).join(' ');
  console.log(`FIRST MISMATCH at token ${first}`);
  console.log(`  veritas:       ${show(ours)}`);
  console.log(`  gpt-3-encoder: ${show(theirs)}`);
  let diff = 0;
  for (let i = 0; i < n; i++) if (ours[i] !== theirs[i]) diff++;
  console.log(`${diff} of ${n} positions differ`);
  process.exit(1);
}

// Decoding veritas's ids gives the input bytes back.
const idsPath = path.join(work, 'ids.txt');
fs.writeFileSync(idsPath, ours.join(' '));
const back = execFileSync(bin, ['tokenizer', 'decode', '--tokenizer', tokJson, idsPath], { maxBuffer: 256 << 20 });
if (!back.equals(bytes)) {
  console.log('decode(encode(text)) != text');
  process.exit(1);
}
console.log(`PASS: ${ours.length} tokens identical; decode round trip exact`);
