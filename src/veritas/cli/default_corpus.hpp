#pragma once
// The bundled default corpus: real public-domain text from Debian packages, turned into
// documents (JSONL, the format of docs/formats.md) at run time, so nothing large is
// committed. English: the King James Bible (package bible-kjv, one document a chapter).
// Chinese: the Three Hundred Tang Poems and a hundred Song ci (package fortunes-zh,
// files tang300 and song100; one document a poem).
#include <filesystem>

namespace veritas::cli {

struct CorpusStats {
  long documents = 0, bytes = 0;
};

// Writes the corpus to `out` atomically; throws Error naming the missing package.
CorpusStats build_default_corpus(const std::filesystem::path& out);

}  // namespace veritas::cli
