// The C interface of mtpc's SentencePiece shim: a small shared library that
// links Debian's libsentencepiece and that mtpc loads with dlopen
// (sentencepiece_tokenizer.cpp).
//
// Why a shim and dlopen: libsentencepiece carries its own copy of protobuf
// (3.14, linked in) and exports its symbols; LibTorch loads the system's
// libprotobuf (3.21). Linked into one program, SentencePiece's start-up code
// binds to the wrong protobuf and aborts the process ("compiled against
// version 3.14.0 ... installed version 3.21.12"). Loaded with
// RTLD_LOCAL | RTLD_DEEPBIND, the shim and libsentencepiece resolve their
// symbols in their own scope first, and neither copy sees the other.
//
// Plain C types only: no exception and no C++ object crosses this boundary.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Bumped whenever a signature below changes; the loader refuses a shim
// whose mtpc_sp_abi() differs.
#define MTPC_SP_ABI 1

typedef struct mtpc_sp mtpc_sp;

// Piece types, numbered as SentencePiece's ModelProto numbers them. The
// library's API cannot tell user-defined pieces from normal ones; both are
// text, and both come back as MTPC_SP_NORMAL.
enum { MTPC_SP_NORMAL = 1, MTPC_SP_UNKNOWN = 2, MTPC_SP_CONTROL = 3, MTPC_SP_UNUSED = 5, MTPC_SP_BYTE = 6 };

int mtpc_sp_abi(void);

// A model from the serialized ModelProto (a tokenizer.model file's bytes).
// Null on failure, with a message in err (always NUL-terminated).
mtpc_sp* mtpc_sp_load(const char* data, size_t size, char* err, size_t err_cap);
void mtpc_sp_free(mtpc_sp* sp);

int mtpc_sp_size(const mtpc_sp* sp);
// The piece's text as the vocabulary spells it ("\xE2\x96\x81the", "<0x0A>",
// "<s>"); valid while sp lives. Null for an id outside [0, size).
const char* mtpc_sp_piece(const mtpc_sp* sp, int id, size_t* len);
int mtpc_sp_type(const mtpc_sp* sp, int id);
// -1 where the model has none.
int mtpc_sp_bos(const mtpc_sp* sp);
int mtpc_sp_eos(const mtpc_sp* sp);
int mtpc_sp_unk(const mtpc_sp* sp);
int mtpc_sp_pad(const mtpc_sp* sp);

typedef void (*mtpc_sp_sink)(void* ctx, const int32_t* ids, size_t n);
// Encodes valid UTF-8 text. continuation != 0: without the dummy prefix
// ("\xE2\x96\x81") the model's normalizer puts in front of a text's start.
// 0 on success (ids delivered to sink once); else -1 and a message in err.
int mtpc_sp_encode(const mtpc_sp* sp, int continuation, const char* text, size_t len, mtpc_sp_sink sink,
                   void* ctx, char* err, size_t err_cap);

#ifdef __cplusplus
}
#endif
