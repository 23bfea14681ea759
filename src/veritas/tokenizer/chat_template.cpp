#include "veritas/tokenizer/chat_template.hpp"

#include "veritas/util/error.hpp"

namespace veritas {

const char* ChatTemplate::name() const {
  switch (format) {
    case ChatFormat::Veritas: return "veritas";
    case ChatFormat::ChatML: return "chatml";
    case ChatFormat::Llama3: return "llama3";
  }
  return "?";
}

const char* ChatTemplate::end_of_turn() const {
  switch (format) {
    case ChatFormat::Veritas: return kEndOfTurn;
    case ChatFormat::ChatML: return "<|im_end|>";
    case ChatFormat::Llama3: return "<|eot_id|>";
  }
  return "";
}

namespace {

bool has(const std::string& s, const char* sub) { return s.find(sub) != std::string::npos; }

// The first literal default system message of a ChatML template: text between
// "<|im_start|>system\n" and "<|im_end|>" with no Jinja in it. The newline may be a real
// one or the escape \n inside a Jinja string.
std::string chatml_default_system(const std::string& j) {
  for (const char* start : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
    for (size_t at = j.find(start); at != std::string::npos; at = j.find(start, at + 1)) {
      size_t b = at + std::string(start).size(), e = j.find("<|im_end|>", b);
      if (e == std::string::npos || e == b) continue;
      std::string text = j.substr(b, e - b);
      if (text.find_first_of("'\"{}+") != std::string::npos) continue;  // built by Jinja, not a literal
      std::string out;
      for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
          out += '\n';
          ++i;
        } else {
          out += text[i];
        }
      }
      return out;
    }
  }
  return {};
}

const char* role_token(const std::string& role) {
  if (role == "system") return kSystem;
  if (role == "user") return kUser;
  if (role == "assistant") return kAssistant;
  throw Error("chat: unknown role '" + role + "' (expected system, user or assistant)");
}

void check_role(const std::string& role) { role_token(role); }

std::string strip(const std::string& s) {  // Jinja's trim: leading and trailing whitespace
  size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Messages as the template sees them (default system message inserted).
std::vector<ChatMessage> with_default(const ChatTemplate& t, const std::vector<ChatMessage>& m, bool start) {
  std::vector<ChatMessage> out;
  if (start && !t.default_system.empty() && (m.empty() || m[0].role != "system"))
    out.push_back({"system", t.default_system});
  out.insert(out.end(), m.begin(), m.end());
  return out;
}

int32_t special(const Tokenizer& tok, const std::string& name) {
  auto id = tok.token_id(name);
  check(id.has_value(), "chat: the tokenizer has no " + name + " token (the chat template needs it)");
  return *id;
}

void append(std::vector<int32_t>& out, const std::vector<int32_t>& ids) { out.insert(out.end(), ids.begin(), ids.end()); }

}  // namespace

const std::string& veritas_chat_template_jinja() {
  static const std::string j =
      "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";
  return j;
}

ChatTemplate recognize_chat_template(const std::string& j, const std::string& where) {
  ChatTemplate t;
  if (j.empty() || j == veritas_chat_template_jinja()) return t;
  if (has(j, "<|im_start|>") && has(j, "<|im_end|>")) {
    t.format = ChatFormat::ChatML;
    // Only templates that insert a system message when the first one is not: SmolLM's
    // "messages[0]['role'] != 'system'", Qwen's "if messages[0]['role'] == 'system' ... else".
    if (has(j, "messages[0]['role']") || has(j, "messages[0].role")) t.default_system = chatml_default_system(j);
    return t;
  }
  if (has(j, "<|start_header_id|>") && has(j, "<|eot_id|>") && !has(j, "Cutting Knowledge") && !has(j, "tools")) {
    t.format = ChatFormat::Llama3;
    return t;
  }
  std::string head = j.substr(0, 120);
  for (char& c : head)
    if (c == '\n') c = ' ';
  throw Error(where + ": unknown chat template (veritas renders ChatML, Llama 3 and Qwen templates): \"" + head +
              (j.size() > 120 ? "...\"" : "\""));
}

ChatTemplate chat_template_of(const Tokenizer& tok) {
  return recognize_chat_template(tok.chat_template(), "tokenizer.chat_template");
}

std::string chat_text(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                      bool start) {
  std::string s;
  const auto msgs = with_default(t, messages, start);
  switch (t.format) {
    case ChatFormat::Veritas:
      for (auto& m : msgs) s += std::string(role_token(m.role)) + "\n" + m.content + kEndOfTurn + "\n";
      if (add_generation_prompt) s += std::string(kAssistant) + "\n";
      break;
    case ChatFormat::ChatML:
      for (auto& m : msgs) {
        check_role(m.role);
        s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (add_generation_prompt) s += "<|im_start|>assistant\n";
      break;
    case ChatFormat::Llama3:
      if (start) s += "<|begin_of_text|>";
      for (auto& m : msgs) {
        check_role(m.role);
        s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + strip(m.content) + "<|eot_id|>";
      }
      if (add_generation_prompt) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
  }
  return s;
}

std::string chat_text(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  return chat_text(ChatTemplate{}, messages, add_generation_prompt);
}

std::vector<int32_t> chat_tokens(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt, bool start) {
  const ChatTemplate t = chat_template_of(tok);
  // A model without a template of its own and without veritas's markers is a base model
  // (Gemma 3 270M): no chat format is guessed for it.
  check(t.format != ChatFormat::Veritas || tok.token_id(kEndOfTurn).has_value(),
        "chat: the model has no chat template (tokenizer.chat_template) and no veritas chat markers; it is "
        "probably a base model: use `veritas sample --prompt` with a plain or few-shot prompt instead");
  const auto msgs = with_default(t, messages, start);
  std::vector<int32_t> out;
  switch (t.format) {
    case ChatFormat::Veritas: {
      const int32_t end = special(tok, kEndOfTurn);
      const auto nl = tok.encode("\n");
      for (auto& m : msgs) {
        out.push_back(special(tok, role_token(m.role)));
        append(out, tok.encode("\n" + m.content));
        out.push_back(end);
        append(out, nl);
      }
      if (add_generation_prompt) {
        out.push_back(special(tok, kAssistant));
        append(out, nl);
      }
      break;
    }
    case ChatFormat::ChatML: {
      // The text between two markers is pre-tokenized as one run, as the reference does.
      const int32_t st = special(tok, "<|im_start|>"), end = special(tok, "<|im_end|>");
      const auto nl = tok.encode("\n");
      for (auto& m : msgs) {
        check_role(m.role);
        out.push_back(st);
        append(out, tok.encode(m.role + "\n" + m.content));
        out.push_back(end);
        append(out, nl);
      }
      if (add_generation_prompt) {
        out.push_back(st);
        append(out, tok.encode("assistant\n"));
      }
      break;
    }
    case ChatFormat::Llama3: {
      const int32_t sh = special(tok, "<|start_header_id|>"), eh = special(tok, "<|end_header_id|>"),
                    eot = special(tok, "<|eot_id|>");
      if (start) out.push_back(special(tok, "<|begin_of_text|>"));
      for (auto& m : msgs) {
        check_role(m.role);
        out.push_back(sh);
        append(out, tok.encode(m.role));
        out.push_back(eh);
        append(out, tok.encode("\n\n" + strip(m.content)));
        out.push_back(eot);
      }
      if (add_generation_prompt) {
        out.push_back(sh);
        append(out, tok.encode("assistant"));
        out.push_back(eh);
        append(out, tok.encode("\n\n"));
      }
      break;
    }
  }
  return out;
}

std::vector<int32_t> chat_close_turn(const Tokenizer& tok) {
  const ChatTemplate t = chat_template_of(tok);
  std::vector<int32_t> out{special(tok, t.end_of_turn())};
  if (t.format != ChatFormat::Llama3) append(out, tok.encode("\n"));
  return out;
}

}  // namespace veritas
