#!/usr/bin/env python3
"""datatrove (the FineWeb pipeline's library) on the documents veritas's quality filter and
near-dedup see, same machine, one process: throughput per core and agreement.

  datatrove_peer.py select CORPUS VERITAS_OUT N PEER_JSONL
      the first N English documents of CORPUS that reached veritas's near-dedup stage in
      the run written to VERITAS_OUT (kept, or rejected at near-dedup or later), re-written
      as clean JSON lines: the peer corpus, which veritas then curates again by itself
  datatrove_peer.py compare PEER_JSONL VERITAS_PEER_OUT WORK_DIR
      runs datatrove's Gopher quality, Gopher repetition, C4 and FineWeb quality filters
      and its MinHash dedup (signatures, buckets, clusters, filter; 14 bands x 8 hashes over
      word 5-grams, its defaults, as veritas's) on the peer corpus and compares them with
      veritas's quality and near-dedup stages on the same documents (VERITAS_PEER_OUT).

Throughput is MB of document text per CPU second (this process and its children) for
datatrove, the stage's own MB/s per core from veritas's card.json for veritas."""
import json
import os
import resource
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import figures  # noqa: E402

LATE = {"near_dedup", "quality", "spam", "spun", "pii"}


def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def verdicts(out):
    """{id: stage that rejected it, or None when kept} from a veritas curate folder."""
    v = {}
    with open(os.path.join(out, "kept.jsonl"), "rb") as f:
        for line in f:
            v[json.loads(line)["id"]] = None
    with open(os.path.join(out, "rejected.jsonl"), "rb") as f:
        for line in f:
            r = json.loads(line)
            if r.get("id") is not None:
                v[r["id"]] = r["stage"]
    return v


def select(corpus, out, n, dest):
    v = verdicts(out)
    reached = {i for i, stage in v.items() if stage is None or stage in LATE}
    rows, seen = [], set()
    with open(corpus, "rb") as f:
        for line in f:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if (isinstance(j, dict) and j.get("lang") == "en" and isinstance(j.get("text"), str)
                    and j.get("id") in reached and j["id"] not in seen):
                seen.add(j["id"])
                rows.append(j)
                if len(rows) >= n:
                    break
    with open(dest, "w") as f:
        for j in rows:
            f.write(json.dumps(j, ensure_ascii=False) + "\n")
    print(f"peer corpus: {len(rows)} English documents that reached veritas's near-dedup stage")


def stage_rate(out, name):
    card = json.load(open(os.path.join(out, "card.json")))
    s = next(s for s in card["stages"] if s["stage"] == name)
    return s["mb_per_s_per_core"], s["bytes_in"] / 1e6


def compare(peer, out, work):
    import datatrove
    from datatrove.data import Document
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    from loguru import logger
    logger.remove()  # datatrove logs every step at INFO: keep the benchmark's output readable
    logger.add(sys.stderr, level="WARNING")
    version = f"datatrove {datatrove.__version__}" if hasattr(datatrove, "__version__") else "datatrove"
    rows = [json.loads(l) for l in open(peer, "rb")]
    docs = [Document(text=r["text"], id=r["id"]) for r in rows]
    mb = sum(len(r["text"].encode()) for r in rows) / 1e6
    v = verdicts(out)
    shape = f"{len(docs)} English documents, {mb:.1f} MB, 1 thread"

    # Quality filters, each on every document (spaCy's tokenizer loaded before timing).
    filters = [("Gopher quality", GopherQualityFilter()), ("Gopher repetition", GopherRepetitionFilter()),
               ("C4 quality", C4QualityFilter()), ("FineWeb quality", FineWebQualityFilter())]
    for _, f in filters:
        f.filter(Document(text="Warm up the word tokenizer. It loads once.", id="warm"))
    keep = {d.id: True for d in docs}
    total = 0.0
    v_rate, _ = stage_rate(out, "quality")
    for name, f in filters:
        t0 = cpu()
        kept = [f.filter(d) is True for d in docs]
        dt = cpu() - t0
        total += dt
        for d, k in zip(docs, kept):
            keep[d.id] = keep[d.id] and k
        print(f"{version} {name:18s} {mb / dt:8.2f} MB/s per core, keeps {sum(kept)}/{len(docs)}")
        figures.emit("quality filtering MB/s per core", v_rate, "MB/s", peer=f"{version} {name} filter",
                     peer_value=mb / dt, shape=shape, goal=">= 10x", note="veritas: its whole quality stage")
    figures.emit("quality filtering MB/s per core", v_rate, "MB/s", peer=f"{version} Gopher + C4 + FineWeb (all four)",
                 peer_value=mb / total, shape=shape, goal=">= 10x")
    # Agreement on the documents that reached veritas's quality stage (not near-duplicates).
    at_q = [d.id for d in docs if v.get(d.id, "near_dedup") != "near_dedup"]
    vk = {i for i in at_q if v[i] != "quality"}
    dk = {i for i in at_q if keep[i]}
    both, neither = len(vk & dk), len(set(at_q) - vk - dk)
    agree = both + neither
    print(f"quality agreement on {len(at_q)} documents: both keep {both}, both drop {neither}, "
          f"only veritas keeps {len(vk - dk)}, only datatrove keeps {len(dk - vk)}")
    figures.emit("quality filter: same keep/drop decision as datatrove (all four)", 100 * agree / max(1, len(at_q)),
                 "%", shape=f"{len(at_q)} documents", note=f"both keep {both}, both drop {neither}, only veritas keeps "
                 f"{len(vk - dk)}, only datatrove keeps {len(dk - vk)}")

    # MinHash dedup, datatrove's four steps with its defaults, in this process.
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                          MinhashDedupSignature)
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    cfg = MinhashConfig()
    os.makedirs(work, exist_ok=True)
    reader = lambda: JsonlReader(os.path.dirname(peer), glob_pattern=os.path.basename(peer))  # noqa: E731
    steps = [[reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)],
             [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=cfg)],
             [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove", config=cfg)],
             [reader(), MinhashDedupFilter(input_folder=f"{work}/remove"), JsonlWriter(f"{work}/kept", compression=None)]]
    t0 = cpu()
    for i, pipeline in enumerate(steps):
        tasks = cfg.num_buckets if i == 1 else 1
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{work}/logs{i}",
                              skip_completed=False).run()
    dt = cpu() - t0
    dt_kept = set()
    for name in os.listdir(f"{work}/kept"):
        with open(os.path.join(f"{work}/kept", name), "rb") as f:
            dt_kept.update(json.loads(l)["id"] for l in f)
    ids = [d.id for d in docs]
    v_removed = {i for i in ids if v.get(i) == "near_dedup"}
    d_removed = set(ids) - dt_kept
    v_rate, _ = stage_rate(out, "near_dedup")
    print(f"{version} MinHash dedup ({cfg.num_buckets} x {cfg.hashes_per_bucket}, {cfg.n_grams}-grams): "
          f"{mb / dt:.2f} MB/s per core; removes {len(d_removed)}, veritas {len(v_removed)}, "
          f"both {len(v_removed & d_removed)}")
    figures.emit("near-dedup MB/s per core", v_rate, "MB/s",
                 peer=f"{version} MinHash dedup ({cfg.num_buckets} x {cfg.hashes_per_bucket}, 4 steps)",
                 peer_value=mb / dt, shape=shape, goal=">= 10x", note="veritas: its near_dedup stage")
    same = len(ids) - len(v_removed ^ d_removed)
    figures.emit("near-dedup: same keep/remove decision as datatrove", 100 * same / max(1, len(ids)), "%",
                 shape=f"{len(ids)} documents", note=f"removed by veritas {len(v_removed)}, by datatrove "
                 f"{len(d_removed)}, by both {len(v_removed & d_removed)}")


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "select":
        select(a[1], a[2], int(a[3]), a[4])
    elif len(a) == 4 and a[0] == "compare":
        compare(a[1], a[2], a[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
