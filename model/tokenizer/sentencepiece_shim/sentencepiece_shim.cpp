// See sentencepiece_shim.h. Built as a module library (CMake MODULE) that
// only mtpc's SentencePiece tokenizer loads.
#include "model/tokenizer/sentencepiece_shim/sentencepiece_shim.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct mtpc_sp {
  sentencepiece::SentencePieceProcessor whole;         // the model as written
  sentencepiece::SentencePieceProcessor continuation;  // same, add_dummy_prefix off
  std::vector<int> types;
};

namespace {

void set_error(char* err, size_t cap, const std::string& message) {
  if (err == nullptr || cap == 0) return;
  const size_t n = message.size() < cap - 1 ? message.size() : cap - 1;
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

// ModelProto field 3 is normalizer_spec; NormalizerSpec field 3 is
// add_dummy_prefix. Protocol buffers merge a singular message field that
// occurs twice, so appending "normalizer_spec { add_dummy_prefix: false }"
// to the serialized model turns the dummy prefix off and changes nothing
// else.
const char kNoDummyPrefix[] = {0x1a, 0x02, 0x18, 0x00};

}  // namespace

extern "C" {

int mtpc_sp_abi(void) { return MTPC_SP_ABI; }

mtpc_sp* mtpc_sp_load(const char* data, size_t size, char* err, size_t err_cap) {
  try {
    auto* sp = new mtpc_sp;
    const std::string whole(data, size);
    auto status = sp->whole.LoadFromSerializedProto(whole);
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      delete sp;
      return nullptr;
    }
    status = sp->continuation.LoadFromSerializedProto(whole + std::string(kNoDummyPrefix, sizeof kNoDummyPrefix));
    if (!status.ok()) {
      set_error(err, err_cap, "the model without its dummy prefix: " + status.ToString());
      delete sp;
      return nullptr;
    }
    const int n = sp->whole.GetPieceSize();
    sp->types.resize(n > 0 ? n : 0);
    for (int id = 0; id < n; ++id) {
      int type = MTPC_SP_NORMAL;
      if (sp->whole.IsUnknown(id)) type = MTPC_SP_UNKNOWN;
      else if (sp->whole.IsControl(id)) type = MTPC_SP_CONTROL;
      else if (sp->whole.IsUnused(id)) type = MTPC_SP_UNUSED;
      else if (sp->whole.IsByte(id)) type = MTPC_SP_BYTE;
      sp->types[id] = type;
    }
    return sp;
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
  } catch (...) {
    set_error(err, err_cap, "unknown exception while loading");
  }
  return nullptr;
}

void mtpc_sp_free(mtpc_sp* sp) { delete sp; }

int mtpc_sp_size(const mtpc_sp* sp) { return static_cast<int>(sp->types.size()); }

const char* mtpc_sp_piece(const mtpc_sp* sp, int id, size_t* len) {
  if (id < 0 || static_cast<size_t>(id) >= sp->types.size()) return nullptr;
  const std::string& piece = sp->whole.IdToPiece(id);
  if (len != nullptr) *len = piece.size();
  return piece.data();
}

int mtpc_sp_type(const mtpc_sp* sp, int id) {
  if (id < 0 || static_cast<size_t>(id) >= sp->types.size()) return 0;
  return sp->types[id];
}

int mtpc_sp_bos(const mtpc_sp* sp) { return sp->whole.bos_id(); }
int mtpc_sp_eos(const mtpc_sp* sp) { return sp->whole.eos_id(); }
int mtpc_sp_unk(const mtpc_sp* sp) { return sp->whole.unk_id(); }
int mtpc_sp_pad(const mtpc_sp* sp) { return sp->whole.pad_id(); }

int mtpc_sp_encode(const mtpc_sp* sp, int continuation, const char* text, size_t len, mtpc_sp_sink sink,
                   void* ctx, char* err, size_t err_cap) {
  try {
    std::vector<int> ids;
    const auto& processor = continuation != 0 ? sp->continuation : sp->whole;
    auto status = processor.Encode(std::string(text, len), &ids);
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      return -1;
    }
    std::vector<int32_t> out(ids.begin(), ids.end());
    sink(ctx, out.data(), out.size());
    return 0;
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
  } catch (...) {
    set_error(err, err_cap, "unknown exception while encoding");
  }
  return -1;
}

}  // extern "C"
