// fastText quality classifier: training input is written as fastText's
// "__label__x tokens..." lines to a temp file; prediction uses predictLine, which keeps
// its state on the stack and is therefore safe to call from several threads.
#include "veritas/data/classifier.hpp"

#include <fasttext/fasttext.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/temp_dir.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/text.hpp"

namespace veritas {

namespace {
inline bool is_han(uint32_t c) { return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF); }

std::string label_of(const nlohmann::json& v, const std::string& where) {
  if (v.is_string()) {
    std::string l = v.get<std::string>();
    check(!l.empty() && l.find_first_of(" \t\n") == std::string::npos, where + ": label must be one word");
    return l;
  }
  if (v.is_boolean()) return v.get<bool>() ? "good" : "bad";
  if (v.is_number()) return v.get<double>() >= 0.5 ? "good" : "bad";
  throw Error(where + ": \"label\" must be a string, number or boolean");
}
}  // namespace

std::string classifier_tokens(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  size_t i = 0;
  while (i < text.size()) {
    size_t st = i;
    uint32_t c = utf8_next(text, i);
    if (c == '\n' || c == '\r' || c == '\t' || c == 0x3000 || c == '\v' || c == '\f' || c == 0) {
      out += ' ';
    } else if (is_han(c)) {
      out += ' ';
      out.append(text.data() + st, i - st);
      out += ' ';
    } else if (c < 0x80) {
      out += (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    } else {
      out.append(text.data() + st, i - st);
    }
  }
  return out;
}

ClassifierConfig ClassifierConfig::from_json(const nlohmann::json& j) {
  ClassifierConfig c;
  c.model = get_or<std::string>(j, "model", c.model);
  c.threshold = get_or(j, "threshold", c.threshold);
  return c;
}

nlohmann::json train_quality_classifier(const ClassifierTrainOptions& opt) {
  check(!opt.input.empty() && !opt.output.empty(), "train-classifier: --input and -o are required");
  const TempDir tmpdir("veritas-ftc");  // removed on every way out, bad input included
  fs::path train_txt = tmpdir.path() / "train.txt";
  std::map<std::string, int64_t> label_counts;
  int64_t examples = 0;
  {
    std::ofstream out(train_txt, std::ios::binary);
    check((bool)out, "cannot write " + train_txt.string());
    for_each_json_line(opt.input, [&](const nlohmann::json& j, const std::string& where) {
      check(j.is_object() && j.contains("text") && j["text"].is_string(), where + ": needs a string \"text\"");
      check(j.contains("label"), where + ": needs a \"label\"");
      std::string label = label_of(j["label"], where);
      ++label_counts[label];
      ++examples;
      out << "__label__" << label << ' ' << classifier_tokens(j["text"].get<std::string>()) << '\n';
    });
    check((bool)out.flush(), "write failed: " + train_txt.string());
  }
  check(examples > 0, opt.input + ": no labelled examples");
  check(label_counts.size() >= 2, opt.input + ": needs at least two labels (e.g. good and bad)");

  fasttext::Args args;
  args.input = train_txt.string();
  args.model = fasttext::model_name::sup;
  args.loss = fasttext::loss_name::softmax;
  args.epoch = opt.epochs;
  args.lr = opt.lr;
  args.wordNgrams = opt.word_ngrams;
  args.dim = opt.dim;
  args.bucket = opt.buckets;
  args.minCount = 1;
  args.thread = opt.threads > 0 ? opt.threads : (int)std::max(1u, std::thread::hardware_concurrency());
  args.seed = opt.seed;
  args.verbose = 0;
  fasttext::FastText ft;
  {
    Progress bar("train-classifier", 1000, "‰");
    std::mutex mu;
    ft.train(args, [&](float progress, float loss, double, double, int64_t) {
      std::lock_guard<std::mutex> lock(mu);
      char b[32];
      std::snprintf(b, sizeof b, "loss %.4f", loss);
      bar.update((int64_t)(progress * 1000), b);
    });
    bar.finish();
  }
  // fastText writes by file name: save next to the target, then rename over it.
  fs::path target = fs::absolute(opt.output);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  fs::path tmp = target;
  tmp += ".tmp";
  ft.saveModel(tmp.string());
  {
    int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd >= 0) { ::fsync(fd); ::close(fd); }
  }
  fs::rename(tmp, target);
  fsync_dir(target.parent_path());
  nlohmann::json summary = {{"examples", examples}, {"output", opt.output}, {"labels", label_counts}};
  return summary;
}

struct QualityClassifier::Impl {
  fasttext::FastText ft;
};

QualityClassifier::QualityClassifier(const std::string& model_path) : impl_(std::make_unique<Impl>()) {
  check(fs::exists(model_path), "classifier model not found: " + model_path);
  try {
    impl_->ft.loadModel(model_path);
  } catch (const std::exception& e) {
    throw Error("cannot load classifier model " + model_path + ": " + e.what());
  }
}
QualityClassifier::~QualityClassifier() = default;

double QualityClassifier::prob_good(std::string_view text) const {
  std::istringstream in(classifier_tokens(text) + "\n");
  std::vector<std::pair<fasttext::real, std::string>> preds;
  impl_->ft.predictLine(in, preds, -1, 0.0);
  for (auto& [p, label] : preds)
    if (label == "__label__good") return p;
  return 0.0;
}

const QualityClassifier& QualityClassifier::get(const std::string& model_path) {
  thread_local const QualityClassifier* last = nullptr;  // per-thread memo: no lock per document
  thread_local std::string last_path;
  if (last && last_path == model_path) return *last;
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<QualityClassifier>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[model_path];
  if (!slot) slot = std::make_unique<QualityClassifier>(model_path);
  last_path = model_path;
  last = slot.get();
  return *slot;
}

Decision check_classifier(Document& doc, const ClassifierConfig& cfg) {
  if (cfg.model.empty()) return Decision::ok();
  double p = QualityClassifier::get(cfg.model).prob_good(doc.text);
  doc.scores.emplace_back("classifier.good", p);
  if (p < cfg.threshold) {
    char b[96];
    std::snprintf(b, sizeof b, "p_good=%.4f < threshold=%.4g", p, cfg.threshold);
    return Decision::drop("classifier.low_score", b);
  }
  return Decision::ok();
}

}  // namespace veritas
