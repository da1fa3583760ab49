#include "lsp/protocol.h"

#include <algorithm>

namespace mtpc::lsp {

using nlohmann::json;

void from_json(const json& j, Position& p) {
  p.line = j.at("line").get<int64_t>();
  p.character = j.at("character").get<int64_t>();
}
void to_json(json& j, const Position& p) { j = {{"line", p.line}, {"character", p.character}}; }
void from_json(const json& j, Range& r) {
  r.start = j.at("start").get<Position>();
  r.end = j.at("end").get<Position>();
}
void to_json(json& j, const Range& r) { j = {{"start", r.start}, {"end", r.end}}; }

namespace {

template <typename T>
void read_if(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

}  // namespace

void apply_settings(const json& j, Settings& s) {
  if (!j.is_object()) throw json::type_error::create(302, "settings must be an object", &j);
  const json& o = j.contains("mtpc") && j["mtpc"].is_object() ? j["mtpc"] : j;
  read_if(o, "model", s.model);
  read_if(o, "maxLines", s.max_lines);
  read_if(o, "maxTokens", s.max_tokens);
  read_if(o, "deadlineMs", s.deadline_ms);
  read_if(o, "fim", s.fim);
  read_if(o, "languages", s.languages);
  read_if(o, "draftLength", s.draft_length);
  read_if(o, "syntaxRetries", s.syntax_retries);
  if (s.max_lines < 1) s.max_lines = 1;
  if (s.max_tokens < 1) s.max_tokens = 1;
  if (s.deadline_ms < 1) s.deadline_ms = 1;
  if (s.draft_length < 0) s.draft_length = 0;
  s.syntax_retries = std::clamp(s.syntax_retries, 0, 16);
}

json settings_json(const Settings& s) {
  return {{"model", s.model},       {"maxLines", s.max_lines}, {"maxTokens", s.max_tokens},
          {"deadlineMs", s.deadline_ms}, {"fim", s.fim},   {"languages", s.languages},
          {"draftLength", s.draft_length}, {"syntaxRetries", s.syntax_retries}};
}

void from_json(const json& j, InitializeParams& p) {
  if (!j.is_object()) throw json::type_error::create(302, "params must be an object", &j);
  auto caps = j.find("capabilities");
  if (caps != j.end() && caps->is_object()) {
    auto general = caps->find("general");
    if (general != caps->end() && general->is_object())
      read_if(*general, "positionEncodings", p.position_encodings);
  }
  auto opts = j.find("initializationOptions");
  if (opts != j.end() && !opts->is_null()) p.initialization_options = *opts;
}

void from_json(const json& j, DidOpenParams& p) {
  const json& d = j.at("textDocument");
  p.text_document.uri = d.at("uri").get<std::string>();
  p.text_document.language_id = d.at("languageId").get<std::string>();
  p.text_document.text = d.at("text").get<std::string>();
  read_if(d, "version", p.text_document.version);
}

void from_json(const json& j, DidChangeParams& p) {
  const json& d = j.at("textDocument");
  p.uri = d.at("uri").get<std::string>();
  read_if(d, "version", p.version);
  for (const json& c : j.at("contentChanges")) {
    ContentChange change;
    change.text = c.at("text").get<std::string>();
    auto r = c.find("range");
    if (r != c.end() && !r->is_null()) change.range = r->get<Range>();
    p.changes.push_back(std::move(change));
  }
}

void from_json(const json& j, DocumentParams& p) {
  p.uri = j.at("textDocument").at("uri").get<std::string>();
}

void from_json(const json& j, PositionParams& p) {
  p.uri = j.at("textDocument").at("uri").get<std::string>();
  p.position = j.at("position").get<Position>();
}

void from_json(const json& j, CancelParams& p) {
  const json& id = j.at("id");
  if (!id.is_number_integer() && !id.is_string())
    throw json::type_error::create(302, "id must be an integer or a string", &id);
  p.id = id;
}

void from_json(const json& j, ConfigurationParams& p) { p.settings = j.at("settings"); }

json inline_completion_json(const std::vector<CompletionItem>& items) {
  json list = json::array();
  for (const auto& item : items)
    list.push_back({{"insertText", valid_utf8(item.text)}, {"range", item.range}});
  return {{"items", list}};
}

json completion_list_json(const std::vector<CompletionItem>& items) {
  json list = json::array();
  for (const auto& item : items) {
    std::string text = valid_utf8(item.text);
    std::string label = text.substr(0, text.find('\n'));
    list.push_back({{"label", label.empty() ? text : label},
                    {"kind", 1},              // Text
                    {"insertTextFormat", 1},  // PlainText: no snippet syntax
                    {"textEdit", {{"range", item.range}, {"newText", text}}}});
  }
  return {{"isIncomplete", true}, {"items", list}};
}

}  // namespace mtpc::lsp
