// Encode throughput of the gpt-3-encoder npm package on the same text, one thread.
// usage: node bench.js NODE_MODULES_DIR text.txt [passes]
'use strict';
const fs = require('fs');
const path = require('path');
const { encodeChunked } = require('../../tests/tokenizer/parity_text.js');
const [modDir, textPath, passesArg] = process.argv.slice(2);
const enc = require(path.join(modDir, 'gpt-3-encoder'));
const buf = fs.readFileSync(textPath);
const text = buf.toString('utf8');
const mb = buf.length / 1e6;
const passes = Number(passesArg || 3);
let best = 1e30, n = 0;
for (let p = 1; p <= passes; p++) {
  const t0 = process.hrtime.bigint();
  n = encodeChunked(enc.encode, text).length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, s);
  console.log(`gpt-3-encoder pass ${p}: ${s.toFixed(3)} s, ${(mb / s).toFixed(2)} MB/s${p === 1 ? ' (cold cache)' : ''}`);
  if (p === 1) console.log(`gpt-3-encoder cold MB/s: ${(mb / s).toFixed(3)}`);
}
console.log(`gpt-3-encoder tokens: ${n}\ngpt-3-encoder best MB/s: ${(mb / best).toFixed(3)}`);
