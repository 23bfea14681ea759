// Structured output: the schema checker on prefixes, schema errors, and decoding under a
// constraint with a random model (whose own choices are never JSON) that still ends with
// a document matching the schema.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tiny_model.hpp"
#include "veritas/serve/json_constraint.hpp"
#include "veritas/serve/scheduler.hpp"

using namespace veritas;
using namespace veritas::serve;
using json = nlohmann::json;
using S = JsonConstraint::State;

namespace {
std::shared_ptr<const JsonConstraint> compile(const std::string& schema) {
  json j = json::parse(schema);
  auto c = JsonConstraint::compile(&j);
  if (auto* e = std::get_if<std::string>(&c)) ADD_FAILURE() << *e;
  return std::get<std::shared_ptr<const JsonConstraint>>(c);
}
std::string compile_error(const std::string& schema) {
  json j = json::parse(schema);
  auto c = JsonConstraint::compile(&j);
  return std::holds_alternative<std::string>(c) ? std::get<std::string>(c) : "";
}
const char* kSchema = R"({"type":"object","properties":{"answer":{"enum":["yes","no"]},"n":{"type":"integer"},
  "tags":{"type":"array","items":{"type":"string"}}},"required":["answer","n"],"additionalProperties":false})";
}  // namespace

TEST(serve_json, ChecksPrefixesAgainstTheSchema) {
  auto c = compile(kSchema);
  EXPECT_EQ(c->check(""), S::Partial);
  EXPECT_EQ(c->check("{"), S::Partial);
  EXPECT_EQ(c->check("{\"ans"), S::Partial);
  EXPECT_EQ(c->check("{\"other"), S::Invalid);          // not a property
  EXPECT_EQ(c->check("{\"answer\": \"y"), S::Partial);
  EXPECT_EQ(c->check("{\"answer\": \"maybe"), S::Invalid);  // not in the enum
  EXPECT_EQ(c->check("{\"answer\": \"yes\"}"), S::Invalid); // "n" is required
  EXPECT_EQ(c->check("{\"answer\": \"yes\", \"n\": 1.5"), S::Invalid);  // integer
  EXPECT_EQ(c->check("{\"answer\": \"yes\", \"n\": 15"), S::Partial);
  EXPECT_EQ(c->check("{\"answer\":\"no\",\"n\":-3,\"tags\":[\"a\",\"b\\n\"]}"), S::Complete);
  EXPECT_EQ(c->check("{\"answer\":\"no\",\"n\":-3}x"), S::Invalid);  // nothing after the document
  EXPECT_EQ(c->check("{\"answer\":\"no\",\"answer\":\"no\""), S::Invalid);  // duplicate key
  EXPECT_EQ(c->check("{    \"answer\""), S::Invalid);  // blank runs are bounded
  EXPECT_EQ(c->check(" {"), S::Invalid);
  EXPECT_EQ(c->check("{\"answer\":\"no\",\"n\":1,\"tags\":[],"), S::Invalid);  // no key left after the comma
  auto any = std::get<std::shared_ptr<const JsonConstraint>>(JsonConstraint::compile(nullptr));
  EXPECT_EQ(any->check("{\"a\": [1, {\"b\": null}, true], \"c\": \"\\u00e9\"}"), S::Complete);
  EXPECT_EQ(any->check("[1]"), S::Invalid);  // json_object: the root is an object
  EXPECT_EQ(any->check("{\"a\": tru"), S::Partial);
  EXPECT_EQ(any->check("{\"a\": trux"), S::Invalid);
}

TEST(serve_json, RefusesUnsupportedAndUnsatisfiableSchemas) {
  EXPECT_NE(compile_error(R"({"not":{}})").find("'not' is not supported"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type":"object","properties":{"a":{"anyOf":[]}}})").find("anyOf"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type":"string","enum":[]})").find("empty"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type":"object","required":["x"],"additionalProperties":false})").find("required"),
            std::string::npos);
  EXPECT_NE(compile_error(R"({"type":"array"})").find("root"), std::string::npos);
  EXPECT_NE(compile_error(R"({"type":["string","null"]})").find("one type"), std::string::npos);
}

TEST(serve_json, DecodingFollowsTheSchema) {
  infer::Engine eng = test::tiny_engine();
  Scheduler s(eng, {.parallel = 2, .context = 256});
  for (float temperature : {0.0f, 1.0f}) {
    auto j = std::make_shared<Job>();
    j->prompt = {1, 2, 3};
    j->sampling.temperature = temperature;
    j->sampling.seed = 4;
    j->sampling.max_tokens = 200;
    j->constraint = compile(R"({"type":"object","properties":{"answer":{"enum":["yes","no"]},"sure":{"type":"boolean"}},
      "required":["answer","sure"],"additionalProperties":false})");
    ASSERT_TRUE(s.submit(j));
    std::unique_lock<std::mutex> lk(j->channel->mu);
    ASSERT_TRUE(j->channel->cv.wait_for(lk, std::chrono::seconds(30), [&] { return j->done(); }));
    EXPECT_EQ(j->end, JobEnd::Stop) << j->error;
    json out = json::parse(j->text, nullptr, false);
    ASSERT_FALSE(out.is_discarded()) << j->text;
    EXPECT_TRUE(out["answer"] == "yes" || out["answer"] == "no") << j->text;
    EXPECT_TRUE(out["sure"].is_boolean()) << j->text;
  }
}
