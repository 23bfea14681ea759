// The chat page: streams answers from /v1/chat/completions (SSE over fetch), shows each
// answer's confidence, verified and abstained badges, keeps the conversation and the
// API key in the browser's localStorage. Everything is inline: no external assets.
#include "veritas/serve/webpage.hpp"

namespace veritas::serve {

const std::string& web_page() {
  static const std::string page = R"PAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>veritas chat</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}
header{padding:.6em 1em;background:#243;color:#fff;display:flex;gap:1em;align-items:center}
header h1{font-size:1.1em;margin:0;flex:1}
header input{width:16em}
#messages{max-width:48em;margin:0 auto;padding:1em;display:flex;flex-direction:column;gap:.8em}
.msg{padding:.6em .9em;border-radius:.5em;white-space:pre-wrap;max-width:85%}
.user{align-self:flex-end;background:#dde8f8}
.assistant{align-self:flex-start;background:#fff;border:1px solid #ddd}
.badges{margin-top:.4em;display:flex;gap:.4em;flex-wrap:wrap;font-size:.8em}
.badge{padding:.1em .5em;border-radius:1em;background:#eee}
.verified{background:#cfeccf}.refuted{background:#f6cccc}.abstained{background:#f3e3b5}
.error{color:#a00}
form{max-width:48em;margin:0 auto;padding:1em;display:flex;gap:.5em}
#input{flex:1;padding:.5em;font:inherit}
button{font:inherit;padding:.5em 1em}
</style></head><body>
<header><h1>veritas</h1>
<label>API key <input id="key" type="password" placeholder="(only if the server needs one)"></label>
<button id="clear" type="button">New chat</button></header>
<div id="messages"></div>
<form id="form"><input id="input" autocomplete="off" placeholder="Ask a question, e.g. What is 12 + 30?">
<button id="send" type="submit">Send</button></form>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let history = JSON.parse(localStorage.getItem("veritas.chat") || "[]");
$("key").value = localStorage.getItem("veritas.key") || "";
$("key").onchange = () => localStorage.setItem("veritas.key", $("key").value);
function save() { localStorage.setItem("veritas.chat", JSON.stringify(history)); }
function badges(el, v) {
  const b = el.querySelector(".badges");
  b.textContent = "";
  if (!v) return;
  const add = (cls, text) => { const s = document.createElement("span"); s.className = "badge " + cls; s.textContent = text; b.appendChild(s); };
  add("confidence", "confidence " + Math.round(100 * v.confidence) + "%" + (v.confidence_source === "stated" ? " (stated)" : ""));
  if (v.abstained) add("abstained", "abstained");
  if (v.verified === true) add("verified", "verified");
  if (v.verified === false) add("refuted", "refuted: " + v.reason);
}
function show(role, text, v) {
  const el = document.createElement("div");
  el.className = "msg " + role;
  const c = document.createElement("div"); c.className = "content"; c.textContent = text;
  const b = document.createElement("div"); b.className = "badges";
  el.appendChild(c); el.appendChild(b);
  $("messages").appendChild(el);
  badges(el, v);
  el.scrollIntoView();
  return el;
}
for (const m of history) show(m.role, m.content, m.veritas);
$("clear").onclick = () => { history = []; save(); $("messages").textContent = ""; };
$("form").onsubmit = async (ev) => {
  ev.preventDefault();
  const q = $("input").value.trim();
  if (!q) return;
  $("input").value = "";
  history.push({role: "user", content: q}); save();
  show("user", q);
  const el = show("assistant", "");
  el.classList.add("streaming");
  const content = el.querySelector(".content");
  let text = "", v = null;
  try {
    const headers = {"Content-Type": "application/json"};
    if ($("key").value) headers["Authorization"] = "Bearer " + $("key").value;
    const resp = await fetch("/v1/chat/completions", {method: "POST", headers,
      body: JSON.stringify({messages: history.map(m => ({role: m.role, content: m.content})), stream: true})});
    if (!resp.ok) {
      const e = await resp.json().catch(() => null);
      throw new Error(e && e.error ? e.error.message : "HTTP " + resp.status);
    }
    const reader = resp.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        for (const ch of j.choices || []) {
          if (ch.delta && ch.delta.content) { text += ch.delta.content; content.textContent = text; }
          if (ch.veritas) v = ch.veritas;
        }
      }
    }
    badges(el, v);
    history.push({role: "assistant", content: text, veritas: v}); save();
  } catch (e) {
    content.textContent = text;
    const err = document.createElement("div"); err.className = "error"; err.textContent = "error: " + e.message;
    el.appendChild(err);
    history.pop(); save();
  }
  el.classList.remove("streaming");
  el.classList.add("done");
};
</script></body></html>
)PAGE";
  return page;
}

}  // namespace veritas::serve
