"""`veritas serve` against the official `openai` Python client: chat and text completions
(streamed and not), models, n, seeds, stop strings, logprobs, usage, the veritas truth
fields, API keys (401 on a bad key, 429 with Retry-After), a full queue (503),
--verified-only, /tokenize, /detokenize, /metrics and CORS; and the same greedy answers with
--device cpu-staged (the GPU's code path)."""
import concurrent.futures
import json
import os
import subprocess
import sys

import openai  # a missing package fails the test: it is pinned in scripts/python/test.txt

sys.path.insert(0, os.path.dirname(__file__))
from serve_common import Server, expect, fail, finish, temp_dir  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
Q = [{"role": "user", "content": "What is 3 + 4?"}]
PROMPT = "Add column by column, starting from the ones.\nColumn 1:"
ENV = dict(os.environ, VERITAS_QUIET="1")

db = os.path.join(temp_dir("veritas-keys-"), "keys.db")
key = subprocess.run([BIN, "keys", "add", "--db", db, "--name", "tests", "--rpm", "0"], capture_output=True, text=True,
                     check=True).stdout.strip()
slow_key = subprocess.run([BIN, "keys", "add", "--db", db, "--name", "slow", "--rpm", "2"], capture_output=True,
                          text=True, check=True).stdout.strip()
expect(key.startswith("vk-") and len(key) > 30, "keys add prints a key")
listing = subprocess.run([BIN, "keys", "list", "--db", db], capture_output=True, text=True, check=True).stdout
expect("tests" in listing and key not in listing, "keys list shows names, never keys")

srv = Server(BIN, MODEL, "--keys", db, "--parallel", "4", "--name", "tiny", "--cors", "*", env=ENV)
try:
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0, timeout=60)

    # models
    models = client.models.list()
    expect([m.id for m in models.data] == ["tiny"], f"models.list: {[m.id for m in models.data]}")

    # chat, not streamed
    r = client.chat.completions.create(model="tiny", messages=Q, temperature=0, max_tokens=60, seed=1)
    c = r.choices[0]
    expect(isinstance(c.message.content, str) and c.message.content, "chat: a non-empty answer")
    expect(c.finish_reason in ("stop", "length"), f"chat: finish_reason {c.finish_reason}")
    expect(r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0, "chat: usage counted")
    expect(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "chat: total_tokens")
    v = c.model_extra.get("veritas") or {}
    expect(0 <= v.get("confidence", -1) <= 1, f"chat: veritas.confidence in [0, 1]: {v}")
    expect(v.get("abstained") in (True, False), "chat: veritas.abstained")
    # "What is 3 + 4?" is arithmetic: the verifier gives a verdict unless the model abstained.
    expect(v.get("abstained") or v.get("verified") in (True, False), f"chat: veritas.verified present: {v}")
    expect(("Answer: 7" in c.message.content) == (v.get("verified") is True) or "Answer:" not in c.message.content
           or not c.message.content.rstrip().endswith(c.message.content.rstrip().split("\n")[-1]),
           "chat: verdict agrees with the answer")
    greedy = c.message.content

    # chat, streamed with usage: the same greedy text
    stream = client.chat.completions.create(model="tiny", messages=Q, temperature=0, max_tokens=60, seed=1, stream=True,
                                            stream_options={"include_usage": True})
    parts, usage, fin, sv = [], None, None, None
    for ch in stream:
        if ch.usage:
            usage = ch.usage
        for ci in ch.choices:
            if ci.delta.content:
                parts.append(ci.delta.content)
            if ci.finish_reason:
                fin = ci.finish_reason
                sv = ci.model_extra.get("veritas")
    expect("".join(parts) == greedy, f"stream: same text as non-stream: {''.join(parts)!r} vs {greedy!r}")
    expect(fin in ("stop", "length") and sv is not None, "stream: final chunk has finish_reason and veritas")
    expect(usage is not None and usage.completion_tokens == r.usage.completion_tokens, "stream: usage chunk")
    expect(usage is not None and usage.prompt_tokens_details.cached_tokens > 0, "stream: the prompt prefix was reused")

    # greedy output is the same alone and with 8 concurrent requests (batched)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(lambda _: client.chat.completions.create(
            model="tiny", messages=Q, temperature=0, max_tokens=60).choices[0].message.content, range(8)))
    expect(all(o == greedy for o in outs), "batched greedy answers equal the lone one")

    # n, seeds and stop strings
    r2 = client.chat.completions.create(model="tiny", messages=Q, temperature=1.0, max_tokens=30, n=3, seed=5)
    r3 = client.chat.completions.create(model="tiny", messages=Q, temperature=1.0, max_tokens=30, n=3, seed=5)
    expect(len(r2.choices) == 3 and [x.index for x in r2.choices] == [0, 1, 2], "n=3 gives 3 choices")
    expect([x.message.content for x in r2.choices] == [x.message.content for x in r3.choices], "same seed, same samples")
    r4 = client.chat.completions.create(model="tiny", messages=Q, temperature=0, max_tokens=60, stop=["column"])
    expect("column" not in r4.choices[0].message.content and r4.choices[0].finish_reason == "stop",
           f"stop string cuts the answer: {r4.choices[0].message.content!r}")

    # structured output: the schema is enforced while decoding
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}, "sure": {"type": "boolean"}},
              "required": ["answer", "sure"], "additionalProperties": False}
    rs = client.chat.completions.create(model="tiny", messages=Q, temperature=0, max_tokens=100,
                                        response_format={"type": "json_schema",
                                                         "json_schema": {"name": "a", "schema": schema}})
    try:
        doc = json.loads(rs.choices[0].message.content)
        expect(set(doc) == {"answer", "sure"} and isinstance(doc["answer"], int) and isinstance(doc["sure"], bool),
               f"json_schema output: {doc}")
    except ValueError:
        expect(False, f"json_schema output is not JSON: {rs.choices[0].message.content!r}")
    try:
        client.chat.completions.create(model="tiny", messages=Q, response_format={
            "type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object", "required": ["x"],
                                                                            "additionalProperties": False}}})
        expect(False, "an unsatisfiable schema is refused")
    except openai.BadRequestError as e:
        expect(e.body.get("param") == "response_format", f"unsatisfiable schema: {e.body}")

    # logprobs
    r5 = client.chat.completions.create(model="tiny", messages=Q, temperature=0, max_tokens=5, logprobs=True,
                                        top_logprobs=3)
    lp = r5.choices[0].logprobs.content
    expect(len(lp) == 5 and all(len(t.top_logprobs) == 3 for t in lp), "chat logprobs: 5 tokens x 3 alternatives")
    expect(all(t.logprob <= 0 and t.top_logprobs[0].logprob >= t.top_logprobs[-1].logprob for t in lp),
           "logprobs are log-probabilities, best first")
    expect(all(abs(t.logprob - t.top_logprobs[0].logprob) < 1e-6 for t in lp), "greedy picks the top token")

    # logit_bias: +100 on one token makes greedy decoding repeat it; an id past the
    # vocabulary is refused with the field named.
    r6 = client.chat.completions.create(model="tiny", messages=Q, temperature=0, max_tokens=5, logprobs=True,
                                        logit_bias={"70": 100})
    toks = [t.token for t in r6.choices[0].logprobs.content]
    expect(len(toks) == 5 and len(set(toks)) == 1 and toks != [t.token for t in lp], f"logit_bias +100: {toks}")
    try:
        client.chat.completions.create(model="tiny", messages=Q, max_tokens=2, logit_bias={"99999999": 5})
        expect(False, "a logit_bias id past the vocabulary is refused")
    except openai.BadRequestError as e:
        expect(e.body.get("param") == "logit_bias", f"logit_bias past the vocabulary: {e.body}")

    # text completions, streamed and not
    t1 = client.completions.create(model="tiny", prompt=PROMPT, temperature=0, max_tokens=20, logprobs=2)
    expect(t1.choices[0].text and len(t1.choices[0].logprobs.tokens) == t1.usage.completion_tokens,
           "completions: text and logprobs")
    st = client.completions.create(model="tiny", prompt=PROMPT, temperature=0, max_tokens=20, stream=True)
    expect("".join(ch.choices[0].text for ch in st if ch.choices) == t1.choices[0].text, "completions stream = non-stream")

    # errors: bad key 401, bad request 400, rate limit 429 with Retry-After
    try:
        openai.OpenAI(base_url=srv.url + "/v1", api_key="vk-wrong", max_retries=0).models.list()
        expect(False, "a bad key is refused")
    except openai.AuthenticationError as e:
        expect(e.status_code == 401 and e.body and "invalid" in e.body.get("message", ""), f"401 body: {e.body}")
    try:
        client.chat.completions.create(model="tiny", messages=Q, max_tokens=-5)
        expect(False, "negative max_tokens is refused")
    except openai.BadRequestError as e:
        expect(e.status_code == 400 and e.body.get("param") == "max_tokens", f"400 names the field: {e.body}")
    slow = openai.OpenAI(base_url=srv.url + "/v1", api_key=slow_key, max_retries=0)
    codes = []
    for _ in range(3):
        try:
            slow.models.list()
            codes.append(200)
        except openai.RateLimitError as e:
            codes.append(429)
            expect(int(e.response.headers.get("retry-after", "0")) >= 1, "429 carries Retry-After")
    expect(codes == [200, 200, 429], f"rpm=2: {codes}")

    # tokenize / detokenize / metrics / CORS / health
    hk = {"Authorization": "Bearer " + key}
    s, _, b = srv.request("POST", "/tokenize", {"content": "What is 2 + 5?"}, hk)
    toks = json.loads(b)["tokens"]
    s2, _, b2 = srv.request("POST", "/detokenize", {"tokens": toks}, hk)
    expect(s == 200 and s2 == 200 and json.loads(b2)["content"] == "What is 2 + 5?", "tokenize/detokenize round trip")
    s, _, b = srv.request("POST", "/detokenize", {"tokens": [10 ** 9]}, hk)
    expect(s == 400, "detokenize refuses unknown ids")
    s, _, b = srv.request("GET", "/metrics")
    m = b.decode()
    for name in ("veritas_requests_total", "veritas_generation_tokens_total", "veritas_time_to_first_token_seconds_bucket",
                 "veritas_queue_seconds_count", "veritas_slots_busy", "veritas_rejected_total{reason=\"rate_limit\"}",
                 "veritas_energy_joules", "veritas_tokens_per_second"):
        expect(name in m, f"/metrics has {name}")
    s, h, _ = srv.request("OPTIONS", "/v1/chat/completions", headers={"Origin": "http://x"})
    expect(h.get("Access-Control-Allow-Origin") == "*", f"CORS header: {h}")
    s, _, b = srv.request("GET", "/health")
    expect(s == 200 and json.loads(b)["status"] == "ok", "health")
finally:
    code = srv.stop()
    expect(code == 0, f"clean exit after SIGTERM: {code}: {srv.logs()}")

# A full queue answers 503 with Retry-After: 1 slot, no queue, 6 requests at once. Each
# request generates its whole 100 tokens (ignore_eos), so the first one still holds the
# slot when the others arrive, however slowly a loaded machine starts the client threads.
srv = Server(BIN, MODEL, "--parallel", "1", "--queue", "0", env=ENV)
try:
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=60)

    def one(_):
        try:
            client.chat.completions.create(model="x", messages=Q, temperature=0, max_tokens=100,
                                           extra_body={"ignore_eos": True})
            return 200
        except openai.APIStatusError as e:
            return (e.status_code, e.response.headers.get("retry-after"))
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        res = list(ex.map(one, range(6)))
    expect(200 in res and (503, "1") in res and all(x == 200 or x == (503, "1") for x in res), f"queue full: {res}")

    # --verified-only per request: every answer is verified or an honest abstention.
    seen = set()
    for q in ["What is 3 + 4?", "What is 8 + 9?", "What is 5 + 5?", "What is 2 + 6?"]:
        r = client.chat.completions.create(model="x", messages=[{"role": "user", "content": q}], temperature=0,
                                           max_tokens=60, extra_body={"veritas": {"verified_only": True}})
        v = r.choices[0].model_extra["veritas"]
        ok = v.get("verified") is True or (v.get("abstained") and v.get("replaced"))
        expect(ok, f"verified-only {q}: {v} {r.choices[0].message.content!r}")
        expect(v.get("verified") is not False, "verified-only never returns a refuted answer")
        seen.add("verified" if v.get("verified") else "abstained")
    print("verified-only outcomes:", seen)
finally:
    srv.stop()

# The forward pass on the device code path (--device: weights, slots' caches and batches
# behind uploads and downloads, decode steps replayed as recorded ones, as on a GPU): the
# same greedy answer alone and for 8 concurrent requests decoded as one batch.
srv = Server(BIN, MODEL, "--parallel", "4", "--device", "cpu-staged", env=ENV)
try:
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0, timeout=60)
    alone = client.chat.completions.create(model="x", messages=Q, temperature=0, max_tokens=60).choices[0].message.content
    expect(alone == greedy, f"--device cpu-staged: {alone!r}, on the CPU {greedy!r}")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(lambda _: client.chat.completions.create(
            model="x", messages=Q, temperature=0, max_tokens=60).choices[0].message.content, range(8)))
    expect(all(o == greedy for o in outs), f"--device cpu-staged, 8 at once: {outs}")
finally:
    srv.stop()

finish("serve_openai")
