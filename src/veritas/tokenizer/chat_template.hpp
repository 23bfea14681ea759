#pragma once
// Chat templates, shared by generation (infer/), SFT training (train/) and evaluation.
// veritas's own template (a tokenizer without a chat template of its own):
//
//   <|role|>\n{content}<|end|>\n        role: system | user | assistant
//
// and a prompt that asks for the next reply ends with "<|assistant|>\n". Imported models
// (GGUF) carry a Hugging Face Jinja template; veritas does not run Jinja but recognizes
// the known families and renders them natively:
//
//   ChatML (SmolLM, Qwen): <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
//                          with the template's default system message when the
//                          conversation has none (SmolLM's and Qwen's templates insert one)
//   Llama 3:               <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n
//                          {content stripped}<|eot_id|> ... <|start_header_id|>assistant<|end_header_id|>\n\n
//
// An unrecognized template is an Error naming it (never a silent guess). Markers are the
// tokenizer's special tokens; message contents are encoded as plain text, so a user
// typing "<|end|>" or "<|im_end|>" cannot forge a turn. The token sequence equals
// encode_with_specials() of the template text whenever contents hold no special strings.
#include <cstdint>
#include <string>
#include <vector>

#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFormat { Veritas, ChatML, Llama3 };

struct ChatTemplate {
  ChatFormat format = ChatFormat::Veritas;
  std::string default_system;  // inserted when the first message is not a system message
  const char* name() const;    // "veritas", "chatml", "llama3"
  const char* end_of_turn() const;  // "<|end|>", "<|im_end|>", "<|eot_id|>"
};

// Recognizes a Jinja chat template (empty: veritas's own). `where` names the source in
// the error thrown for an unknown template.
ChatTemplate recognize_chat_template(const std::string& jinja, const std::string& where);
// veritas's own template written as Jinja (what `veritas export --gguf` stores, so other
// runtimes render it); recognize_chat_template maps it back to ChatFormat::Veritas.
const std::string& veritas_chat_template_jinja();
ChatTemplate chat_template_of(const Tokenizer& tok);  // from tok.chat_template()

// The template as text (for display, docs and training data); throws Error on an unknown role.
std::string chat_text(const std::vector<ChatMessage>& messages, bool add_generation_prompt);
std::string chat_text(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                      bool start = true);
// The template as token ids; throws Error if the tokenizer lacks a marker token.
// start = false renders messages that continue a conversation (no begin-of-text token, no
// default system message).
std::vector<int32_t> chat_tokens(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt, bool start = true);
// Tokens that close an assistant turn whose end-of-turn token was sampled but not fed
// (the end token and what follows it in the template).
std::vector<int32_t> chat_close_turn(const Tokenizer& tok);

}  // namespace veritas
