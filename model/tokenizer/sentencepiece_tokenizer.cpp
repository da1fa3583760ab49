#include "model/tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <type_traits>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/gzip_file.h"
#include "base/machine.h"
#include "model/tokenizer/sentencepiece_shim/sentencepiece_shim.h"
#include "model/tokenizer/unicode_text.h"

namespace mtpc {
namespace {

namespace fs = std::filesystem;

constexpr char kShimName[] = "libmtpc_sentencepiece.so";

// The shim's functions, resolved once per process.
struct Shim {
  decltype(&mtpc_sp_abi) abi = nullptr;
  decltype(&mtpc_sp_load) load = nullptr;
  decltype(&mtpc_sp_free) free = nullptr;
  decltype(&mtpc_sp_size) size = nullptr;
  decltype(&mtpc_sp_piece) piece = nullptr;
  decltype(&mtpc_sp_type) type = nullptr;
  decltype(&mtpc_sp_bos) bos = nullptr;
  decltype(&mtpc_sp_eos) eos = nullptr;
  decltype(&mtpc_sp_unk) unk = nullptr;
  decltype(&mtpc_sp_encode) encode = nullptr;
};

std::vector<std::string> shim_candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("MTPC_SENTENCEPIECE_SHIM"); env != nullptr && *env != '\0') {
    out.push_back(env);
    return out;  // an explicit choice is not second-guessed
  }
  const std::string exe = executable_path();
  if (!exe.empty()) out.push_back((fs::path(exe).parent_path() / kShimName).string());
#ifdef MTPC_SENTENCEPIECE_SHIM_BUILD_PATH
  out.push_back(MTPC_SENTENCEPIECE_SHIM_BUILD_PATH);
#endif
  return out;
}

Result<const Shim*> load_shim() {
  static std::once_flag once;
  static Shim shim;
  static Status failure = Status::Ok();
  std::call_once(once, [] {
    std::string tried;
    void* handle = nullptr;
    for (const std::string& path : shim_candidates()) {
      std::error_code ec;
      if (!fs::exists(path, ec)) {
        tried += (tried.empty() ? "" : ", ") + path + " (absent)";
        continue;
      }
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (handle != nullptr) break;
      const char* why = dlerror();
      tried += (tried.empty() ? "" : ", ") + path + " (" + (why != nullptr ? why : "dlopen failed") + ")";
    }
    if (handle == nullptr) {
      failure = Status::Error(std::string("cannot load SentencePiece support: no usable ") + kShimName +
                              " (tried " + tried +
                              "; set MTPC_SENTENCEPIECE_SHIM to its path, and install libsentencepiece0)");
      return;
    }
    bool all = true;
    auto bind = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
      all = all && fn != nullptr;
    };
    bind(shim.abi, "mtpc_sp_abi");
    bind(shim.load, "mtpc_sp_load");
    bind(shim.free, "mtpc_sp_free");
    bind(shim.size, "mtpc_sp_size");
    bind(shim.piece, "mtpc_sp_piece");
    bind(shim.type, "mtpc_sp_type");
    bind(shim.bos, "mtpc_sp_bos");
    bind(shim.eos, "mtpc_sp_eos");
    bind(shim.unk, "mtpc_sp_unk");
    bind(shim.encode, "mtpc_sp_encode");
    if (!all || shim.abi() != MTPC_SP_ABI)
      failure = Status::Error(std::string(kShimName) + ": not the SentencePiece shim this mtpc was built with");
  });
  if (!failure.ok()) return failure;
  return &shim;
}

const std::string kWordStart = "\xE2\x96\x81";  // U+2581, SentencePiece's space

int byte_piece_value(const std::string& piece) {
  // "<0xAB>"
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = piece[i];
    v *= 16;
    if (c >= '0' && c <= '9') v += c - '0';
    else if (c >= 'A' && c <= 'F') v += c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v += c - 'a' + 10;
    else return -1;
  }
  return v;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const Shim* shim, mtpc_sp* model) : shim_(shim), model_(model) {
    std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  }
  ~SentencePieceTokenizer() override { shim_->free(model_); }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  std::string kind() const override { return "sentencepiece"; }
  int vocab_size() const override { return static_cast<int>(bytes_.size()); }
  SpecialTokens specials() const override { return special_tokens(ends_); }
  std::vector<int32_t> encode(std::string_view text) const override { return encode_runs(text, false); }
  std::vector<int32_t> encode_continuation(std::string_view text) const override { return encode_runs(text, true); }
  Result<std::string> decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= bytes_.size())
        return Status::Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                             std::to_string(bytes_.size()) + ")");
      out += bytes_[id];
    }
    return out;
  }
  bool is_special(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
  }
  int32_t token_id(std::string_view piece) const override {
    auto it = ids_.find(std::string(piece));
    return it == ids_.end() ? -1 : it->second;
  }
  std::vector<int32_t> stop_ids() const override { return ends_.stops; }
  FimTemplate fim_template() const override { return ends_.fim; }

  Status index(const std::string& path) {
    const int n = shim_->size(model_);
    if (n <= 0) return Status::Error(path + ": the model has no pieces");
    bytes_.resize(n);
    special_.assign(n, false);
    for (int id = 0; id < n; ++id) {
      size_t len = 0;
      const char* p = shim_->piece(model_, id, &len);
      std::string piece(p, len);
      const int type = shim_->type(model_, id);
      if (type == MTPC_SP_BYTE) {
        const int v = byte_piece_value(piece);
        if (v < 0) return Status::Error(path + ": byte piece " + std::to_string(id) + " is not spelled <0xNN>");
        bytes_[id] = std::string(1, static_cast<char>(v));
        byte_ids_[v] = id;
      } else if (type == MTPC_SP_CONTROL || type == MTPC_SP_UNKNOWN) {
        special_[id] = true;
      } else if (type == MTPC_SP_NORMAL) {
        std::string text;
        for (size_t i = 0; i < piece.size();) {
          if (piece.compare(i, kWordStart.size(), kWordStart) == 0) {
            text += ' ';
            i += kWordStart.size();
          } else {
            text += piece[i++];
          }
        }
        bytes_[id] = std::move(text);
      }  // unused pieces decode to nothing and are never produced
      ids_.emplace(std::move(piece), id);
    }
    unk_ = shim_->unk(model_);
    // The model's dummy prefix, as tokens: what a text that starts with a
    // byte that is not UTF-8 gets in front, like any other text.
    std::vector<int32_t> whole, continued;
    encode_valid("a", false, whole);
    encode_valid("a", true, continued);
    if (whole != continued) encode_valid(" ", true, dummy_prefix_);
    return Status::Ok();
  }

  int32_t model_bos() const { return shim_->bos(model_); }
  int32_t model_eos() const { return shim_->eos(model_); }
  void set_ends(TokenizerEnds ends) { ends_ = std::move(ends); }

 private:
  // Valid UTF-8 runs through the library; other bytes as byte tokens.
  std::vector<int32_t> encode_runs(std::string_view text, bool continuation) const {
    std::vector<int32_t> out;
    size_t run_start = 0;
    auto flush = [&](size_t end) {
      if (end > run_start) encode_valid(text.substr(run_start, end - run_start), continuation || run_start > 0, out);
    };
    if (!continuation && !text.empty() && utf8_char_length(text, 0) == 0)
      out.insert(out.end(), dummy_prefix_.begin(), dummy_prefix_.end());
    for (size_t i = 0; i < text.size();) {
      const size_t len = utf8_char_length(text, i);
      if (len > 0) {
        i += len;
        continue;
      }
      flush(i);
      const int32_t byte_id = byte_ids_[static_cast<unsigned char>(text[i])];
      if (byte_id >= 0) out.push_back(byte_id);
      else if (unk_ >= 0) out.push_back(unk_);
      run_start = ++i;
    }
    flush(text.size());
    return out;
  }

  void encode_valid(std::string_view text, bool continuation, std::vector<int32_t>& out) const {
    char err[512];
    auto sink = [](void* ctx, const int32_t* ids, size_t n) {
      auto* v = static_cast<std::vector<int32_t>*>(ctx);
      v->insert(v->end(), ids, ids + n);
    };
    if (shim_->encode(model_, continuation ? 1 : 0, text.data(), text.size(), sink, &out, err, sizeof err) != 0) {
      // The library refuses only malformed input, and the input is valid
      // UTF-8: keep the text as bytes rather than lose it.
      for (unsigned char c : text) {
        const int32_t byte_id = byte_ids_[c];
        if (byte_id >= 0) out.push_back(byte_id);
        else if (unk_ >= 0) out.push_back(unk_);
      }
    }
  }

  const Shim* shim_;
  mtpc_sp* model_;
  std::vector<std::string> bytes_;  // id -> decoded bytes
  std::vector<bool> special_;
  std::unordered_map<std::string, int32_t> ids_;  // piece spelling -> id
  int32_t byte_ids_[256];  // byte -> its <0xNN> piece, -1 if none
  int32_t unk_ = -1;
  std::vector<int32_t> dummy_prefix_;  // empty when the model adds none
  TokenizerEnds ends_;
};

}  // namespace

Result<std::shared_ptr<const Tokenizer>> load_sentencepiece_tokenizer(const std::string& path,
                                                                      const TokenizerFileOptions& options) {
  auto shim = load_shim();
  if (!shim.ok()) return shim.status().wrap(path);
  auto bytes = read_file(path);
  if (!bytes.ok()) return bytes.status();
  char err[512] = {0};
  mtpc_sp* model = (*shim)->load(bytes->data(), bytes->size(), err, sizeof err);
  if (model == nullptr) {
    std::string why = err;
    if (why.find("ParseFromArray") != std::string::npos)
      why = "the bytes are not a serialized ModelProto (truncated, or another format)";
    else if (why.rfind("Internal: ", 0) == 0)
      why = why.substr(10);
    return Status::Error(path + ": not a SentencePiece model: " + why);
  }
  auto t = std::make_shared<SentencePieceTokenizer>(*shim, model);
  if (Status s = t->index(path); !s.ok()) return s;

  TokenizerFileOptions resolved = options;
  auto spelled = [&](int32_t id) -> std::string {
    if (id < 0 || id >= t->vocab_size()) return "";
    size_t len = 0;
    const char* p = (*shim)->piece(model, id, &len);
    return std::string(p, len);
  };
  if (resolved.bos_token.empty()) resolved.bos_token = spelled(t->model_bos());
  if (resolved.eos_token.empty()) resolved.eos_token = spelled(t->model_eos());
  auto ends = resolve_tokenizer_ends(*t, resolved);
  if (!ends.ok()) return ends.status();
  t->set_ends(std::move(*ends));
  return std::shared_ptr<const Tokenizer>(std::move(t));
}

}  // namespace mtpc
