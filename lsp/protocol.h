// LSP messages as plain structs, parsed from JSON once at the edge
// (lsp/server.cpp's binder) and written back with to_json. from_json throws
// nlohmann::json exceptions on a missing or mistyped field; the binder turns
// them into InvalidParams naming the field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lsp/text.h"

namespace mtpc::lsp {

// JSON-RPC and LSP error codes.
enum class ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kServerNotInitialized = -32002,
  kRequestCancelled = -32800,
  kContentModified = -32801,
  // mtpc's own (team server, lsp/access.h): a missing, wrong or revoked
  // token; over a connection limit; over --requests-per-minute
  // (data.retryAfterMs says when to retry).
  kUnauthorized = -32010,
  kTooManyConnections = -32011,
  kRateLimited = -32012,
  // mtpc's own: the scheduler did not start the request (it would have
  // waited past its deadline, the queue was full, or the server is
  // draining); the client may retry later.
  kServerBusy = -32020,
};

struct Range {
  Position start, end;
};

void from_json(const nlohmann::json& j, Position& p);
void to_json(nlohmann::json& j, const Position& p);
void from_json(const nlohmann::json& j, Range& r);
void to_json(nlohmann::json& j, const Range& r);

// Per-client settings: initializationOptions and
// workspace/didChangeConfiguration, under a "mtpc" key or flat.
struct Settings {
  std::string model;                 // checkpoint directory (used when --model is not given)
  int max_lines = 8;                 // longest multi-line completion
  int max_tokens = 64;               // tokens decoded per completion
  int deadline_ms = 300;             // a completion answers with what it has by then
  bool fim = true;                   // fill-in-the-middle prompts
  std::vector<std::string> languages;  // languageIds completed; empty: all
  int draft_length = 0;              // drafted tokens per pass; 0: the model's most
  int syntax_retries = 4;            // alternatives sampled when greedy breaks the syntax; 0: none
};
// Applies the keys present in `j` (either {"mtpc": {...}} or flat) over `s`.
// Throws on a key of the wrong type; unknown keys are ignored.
void apply_settings(const nlohmann::json& j, Settings& s);
nlohmann::json settings_json(const Settings& s);

struct InitializeParams {
  std::vector<std::string> position_encodings;  // capabilities.general.positionEncodings
  std::optional<nlohmann::json> initialization_options;
};
void from_json(const nlohmann::json& j, InitializeParams& p);

struct TextDocumentItem {
  std::string uri, language_id, text;
  int64_t version = 0;
};
struct DidOpenParams {
  TextDocumentItem text_document;
};
void from_json(const nlohmann::json& j, DidOpenParams& p);

struct ContentChange {
  std::optional<Range> range;  // absent: the whole text
  std::string text;
};
struct DidChangeParams {
  std::string uri;
  int64_t version = 0;
  std::vector<ContentChange> changes;
};
void from_json(const nlohmann::json& j, DidChangeParams& p);

struct DocumentParams {  // didClose
  std::string uri;
};
void from_json(const nlohmann::json& j, DocumentParams& p);

struct PositionParams {  // inlineCompletion, completion
  std::string uri;
  Position position;
};
void from_json(const nlohmann::json& j, PositionParams& p);

struct CancelParams {
  nlohmann::json id;  // number or string
};
void from_json(const nlohmann::json& j, CancelParams& p);

struct ConfigurationParams {
  nlohmann::json settings;
};
void from_json(const nlohmann::json& j, ConfigurationParams& p);

// One completion as the service gives it; rendered as an inline item or a
// completion item.
struct CompletionItem {
  std::string text;
  Range range;  // where it goes: at the cursor
};
nlohmann::json inline_completion_json(const std::vector<CompletionItem>& items);
nlohmann::json completion_list_json(const std::vector<CompletionItem>& items);

}  // namespace mtpc::lsp
