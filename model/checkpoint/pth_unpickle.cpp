// The restricted unpickler of pth_reader.h: a stack machine over the opcodes
// a torch.save'd state dict uses. It builds plain descriptions (strings,
// numbers, tuples, dicts, storage references, tensor descriptions) and calls
// nothing: a global is only ever one of a few known names, checked when the
// GLOBAL opcode is read, and REDUCE interprets those names itself.
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <optional>
#include <unordered_map>

#include "model/checkpoint/pth_reader.h"

namespace mtpc {
namespace {

enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };
enum class Callable { OrderedDict, RebuildTensorV2, RebuildParameter, StorageClass };

// Every value lives in the machine's arena and is referred to by raw pointer,
// so self-referencing or deeply nested pickles cost no recursion to free.
struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;  // Bool, Int
  double f = 0;
  std::string s;  // String
  std::vector<Value*> items;                        // Tuple, List
  std::vector<std::pair<Value*, Value*>> entries;   // Dict, in insertion order
  Callable callable = Callable::OrderedDict;        // Global
  DType dtype = DType::F32;                         // Global StorageClass, Storage
  PickledTensor tensor;                             // Storage (key, numel, dtype), Tensor
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

std::optional<DType> storage_class_dtype(const std::string& name) {
  static const std::map<std::string, DType> kClasses = {
      {"FloatStorage", DType::F32}, {"HalfStorage", DType::F16},  {"BFloat16Storage", DType::BF16},
      {"DoubleStorage", DType::F64}, {"LongStorage", DType::I64}, {"IntStorage", DType::I32},
      {"ShortStorage", DType::I16}, {"CharStorage", DType::I8},   {"ByteStorage", DType::U8},
      {"BoolStorage", DType::BOOL}};
  auto it = kClasses.find(name);
  if (it == kClasses.end()) return std::nullopt;
  return it->second;
}

// Sizes beyond this are not a tensor anyone can load; the cap keeps every
// product below 2^63.
constexpr int64_t kMaxElements = int64_t{1} << 48;
constexpr size_t kMaxDims = 16;
// Objects one pickle may create (a state dict needs about 15 per tensor): the
// cap bounds memory (~250 bytes each) against a pickle built to exhaust it.
constexpr size_t kMaxObjects = size_t{2} << 20;

struct TooLarge {};

class Machine {
 public:
  Machine(const uint8_t* data, size_t size, std::string source)
      : p_(data), size_(size), source_(std::move(source)) {}

  Result<Value*> run();

 private:
  Status fail(const std::string& what) const {
    return Status::Error(source_ + ": " + what + " (at byte " + std::to_string(op_at_) + ")");
  }
  Value* make(Kind kind) {
    if (arena_.size() >= kMaxObjects) throw TooLarge();
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
  }
  bool need(size_t n) const { return n <= size_ - pos_; }
  Result<Value*> pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
      return fail("pickle stack underflow");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  // Items above the topmost mark, removed with the mark.
  Result<std::vector<Value*>> pop_mark() {
    if (marks_.empty()) return fail("pickle opcode needs a MARK, but there is none");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Status global(const std::string& module, const std::string& name);
  Status reduce(Value* callable, Value* args);
  Status persistent_load(Value* pid);
  Status set_items(Value* dict, const std::vector<Value*>& kv);
  Result<std::vector<int64_t>> int_tuple(Value* v, const char* what);

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0, op_at_ = 0;
  std::string source_;
  std::deque<Value> arena_;  // stable addresses
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value*> memo_;
};

Status Machine::global(const std::string& module, const std::string& name) {
  Value* g = make(Kind::Global);
  if (module == "collections" && name == "OrderedDict") {
    g->callable = Callable::OrderedDict;
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    g->callable = Callable::RebuildTensorV2;
  } else if (module == "torch._utils" && name == "_rebuild_parameter") {
    g->callable = Callable::RebuildParameter;
  } else if (auto d = storage_class_dtype(name); module == "torch" && d) {
    g->callable = Callable::StorageClass;
    g->dtype = *d;
  } else {
    return fail("refused global '" + module + "." + name +
                "': a state dict needs only collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                "torch._utils._rebuild_parameter and torch.*Storage; nothing was run");
  }
  stack_.push_back(g);
  return Status::Ok();
}

Result<std::vector<int64_t>> Machine::int_tuple(Value* v, const char* what) {
  if (v->kind != Kind::Tuple) return fail(std::string(what) + " must be a tuple, got " + kind_name(v->kind));
  if (v->items.size() > kMaxDims) return fail(std::string(what) + " has more than 16 dimensions");
  std::vector<int64_t> out;
  for (Value* x : v->items) {
    if (x->kind != Kind::Int || x->i < 0 || x->i > kMaxElements)
      return fail(std::string(what) + " must hold non-negative integers below 2^48");
    out.push_back(x->i);
  }
  return out;
}

Status Machine::persistent_load(Value* pid) {
  // ('storage', storage_class, key, location, numel)
  if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::String ||
      pid->items[0]->s != "storage")
    return fail("persistent id must be ('storage', class, key, location, numel)");
  Value* cls = pid->items[1];
  Value* key = pid->items[2];
  Value* location = pid->items[3];
  Value* numel = pid->items[4];
  if (cls->kind != Kind::Global || cls->callable != Callable::StorageClass)
    return fail("persistent id's storage class is not a torch.*Storage");
  if (key->kind != Kind::String || key->s.empty() || key->s.find('/') != std::string::npos || key->s.size() > 64)
    return fail("persistent id's storage key must be a short name without '/'");
  if (location->kind != Kind::String) return fail("persistent id's location must be a string");
  if (numel->kind != Kind::Int || numel->i < 0 || numel->i > kMaxElements)
    return fail("persistent id's numel must be an integer in [0, 2^48]");
  Value* s = make(Kind::Storage);
  s->tensor.dtype = cls->dtype;
  s->tensor.storage_key = key->s;
  s->tensor.storage_numel = numel->i;
  stack_.push_back(s);
  return Status::Ok();
}

Status Machine::reduce(Value* callable, Value* args) {
  if (callable->kind != Kind::Global) return fail(std::string("REDUCE on a ") + kind_name(callable->kind));
  if (args->kind != Kind::Tuple) return fail("REDUCE arguments must be a tuple");
  const auto& a = args->items;
  switch (callable->callable) {
    case Callable::OrderedDict: {
      if (!a.empty()) return fail("collections.OrderedDict called with arguments; expected ()");
      stack_.push_back(make(Kind::Dict));
      return Status::Ok();
    }
    case Callable::RebuildParameter: {
      // (data, requires_grad, backward_hooks): the parameter is its data.
      if (a.size() != 3 || a[0]->kind != Kind::Tensor) return fail("_rebuild_parameter expects (tensor, bool, hooks)");
      stack_.push_back(a[0]);
      return Status::Ok();
    }
    case Callable::StorageClass:
      return fail("a storage class called directly; storages come only from persistent ids");
    case Callable::RebuildTensorV2:
      break;
  }
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (a.size() != 6 && a.size() != 7) return fail("_rebuild_tensor_v2 expects 6 or 7 arguments");
  if (a[0]->kind != Kind::Storage) return fail("_rebuild_tensor_v2's first argument is not a storage");
  if (a[1]->kind != Kind::Int || a[1]->i < 0 || a[1]->i > kMaxElements)
    return fail("_rebuild_tensor_v2's storage offset must be a non-negative integer");
  auto shape = int_tuple(a[2], "tensor size");
  if (!shape.ok()) return shape.status();
  auto strides = int_tuple(a[3], "tensor stride");
  if (!strides.ok()) return strides.status();
  if (shape->size() != strides->size()) return fail("tensor size and stride have different lengths");
  Value* t = make(Kind::Tensor);
  t->tensor = a[0]->tensor;
  t->tensor.storage_offset = a[1]->i;
  // Every element the strides reach must lie inside the storage; empty tensors reach none.
  int64_t numel = 1, last = a[1]->i;
  bool empty = false;
  for (size_t d = 0; d < shape->size(); ++d) {
    const int64_t n = (*shape)[d];
    if (n == 0) empty = true;
    if (n > 0 && numel > kMaxElements / n) return fail("tensor has more than 2^48 elements");
    numel *= n;
    if (n > 0 && (*strides)[d] > 0 && (n - 1) > (kMaxElements - last) / (*strides)[d])
      return fail("tensor strides reach past 2^48 elements");
    if (n > 0) last += (n - 1) * (*strides)[d];
  }
  if (!empty && last >= t->tensor.storage_numel)
    return fail("tensor of size " + std::to_string(numel) + " at offset " + std::to_string(a[1]->i) +
                " reaches element " + std::to_string(last) + " of storage '" + t->tensor.storage_key +
                "', which holds " + std::to_string(t->tensor.storage_numel));
  t->tensor.shape = std::move(*shape);
  t->tensor.strides = std::move(*strides);
  stack_.push_back(t);
  return Status::Ok();
}

Status Machine::set_items(Value* dict, const std::vector<Value*>& kv) {
  if (dict->kind != Kind::Dict) return fail(std::string("SETITEM(S) on a ") + kind_name(dict->kind));
  if (kv.size() % 2 != 0) return fail("SETITEMS with an odd number of items");
  for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  return Status::Ok();
}

Result<Value*> Machine::run() {
  auto read_line = [&]() -> std::optional<std::string> {
    const void* nl = std::memchr(p_ + pos_, '\n', std::min<size_t>(size_ - pos_, 1024));
    if (nl == nullptr) return std::nullopt;
    const size_t len = static_cast<const uint8_t*>(nl) - (p_ + pos_);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len + 1;
    return s;
  };
  auto le = [&](size_t n) {
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(p_[pos_ + k]) << (8 * k);
    pos_ += n;
    return v;
  };
#define MTPC_TRY(expr)                 \
  do {                                 \
    if (Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)
#define MTPC_POP(var)                  \
  auto var##_r = pop();                \
  if (!var##_r.ok()) return var##_r.status(); \
  Value* var = *var##_r
#define MTPC_NEED(n)                   \
  if (!need(n)) return fail("pickle truncated inside an opcode's argument")

  while (true) {
    op_at_ = pos_;
    if (pos_ >= size_) return fail("pickle ends without STOP (truncated)");
    const uint8_t op = p_[pos_++];
    switch (op) {
      case 0x80:  // PROTO
        MTPC_NEED(1);
        if (p_[pos_] > 5) return fail("unsupported pickle protocol " + std::to_string(p_[pos_]));
        ++pos_;
        break;
      case 0x95:  // FRAME (protocol 4): a length hint only
        MTPC_NEED(8);
        pos_ += 8;
        break;
      case '.': {  // STOP
        if (stack_.size() != 1 || !marks_.empty()) return fail("pickle stops with " + std::to_string(stack_.size()) + " values on the stack");
        return stack_.back();
      }
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case ')':  // EMPTY_TUPLE
        stack_.push_back(make(Kind::Tuple));
        break;
      case 't': {  // TUPLE
        auto items = pop_mark();
        if (!items.ok()) return items.status();
        Value* t = make(Kind::Tuple);
        t->items = std::move(*items);
        stack_.push_back(t);
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84u;
        Value* t = make(Kind::Tuple);
        t->items.resize(n);
        for (size_t k = n; k-- > 0;) {
          MTPC_POP(v);
          t->items[k] = v;
        }
        stack_.push_back(t);
        break;
      }
      case '}':  // EMPTY_DICT
        stack_.push_back(make(Kind::Dict));
        break;
      case ']':  // EMPTY_LIST
        stack_.push_back(make(Kind::List));
        break;
      case 'a': {  // APPEND
        MTPC_POP(v);
        MTPC_POP(list);
        if (list->kind != Kind::List) return fail(std::string("APPEND to a ") + kind_name(list->kind));
        list->items.push_back(v);
        stack_.push_back(list);
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        if (!items.ok()) return items.status();
        MTPC_POP(list);
        if (list->kind != Kind::List) return fail(std::string("APPENDS to a ") + kind_name(list->kind));
        list->items.insert(list->items.end(), items->begin(), items->end());
        stack_.push_back(list);
        break;
      }
      case 's': {  // SETITEM
        MTPC_POP(v);
        MTPC_POP(k);
        MTPC_POP(dict);
        MTPC_TRY(set_items(dict, {k, v}));
        stack_.push_back(dict);
        break;
      }
      case 'u': {  // SETITEMS
        auto items = pop_mark();
        if (!items.ok()) return items.status();
        MTPC_POP(dict);
        MTPC_TRY(set_items(dict, *items));
        stack_.push_back(dict);
        break;
      }
      case 'q': case 'r': case 0x94: {  // BINPUT, LONG_BINPUT, MEMOIZE
        uint64_t index;
        if (op == 'q') { MTPC_NEED(1); index = le(1); }
        else if (op == 'r') { MTPC_NEED(4); index = le(4); }
        else index = memo_.size();
        if (stack_.empty()) return fail("memo store with an empty stack");
        memo_[index] = stack_.back();
        break;
      }
      case 'h': case 'j': {  // BINGET, LONG_BINGET
        uint64_t index;
        if (op == 'h') { MTPC_NEED(1); index = le(1); }
        else { MTPC_NEED(4); index = le(4); }
        auto it = memo_.find(index);
        if (it == memo_.end()) return fail("memo index " + std::to_string(index) + " was never stored");
        stack_.push_back(it->second);
        break;
      }
      case 'J': case 'K': case 'M': {  // BININT (signed 4), BININT1, BININT2
        const size_t n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        MTPC_NEED(n);
        Value* v = make(Kind::Int);
        const uint64_t raw = le(n);
        v->i = op == 'J' ? static_cast<int64_t>(static_cast<int32_t>(raw)) : static_cast<int64_t>(raw);
        stack_.push_back(v);
        break;
      }
      case 0x8a: {  // LONG1: little-endian two's complement of n <= 8 bytes
        MTPC_NEED(1);
        const size_t n = p_[pos_++];
        if (n > 8) return fail("integer wider than 64 bits");
        MTPC_NEED(n);
        uint64_t raw = le(n);
        if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~uint64_t{0} << (8 * n);
        Value* v = make(Kind::Int);
        v->i = static_cast<int64_t>(raw);
        stack_.push_back(v);
        break;
      }
      case 'X': case 0x8c: case 0x8d: case 'T': case 'U': {  // (SHORT_)BINUNICODE(8), (SHORT_)BINSTRING
        const size_t n = (op == 0x8c || op == 'U') ? 1 : op == 0x8d ? 8 : 4;
        MTPC_NEED(n);
        const uint64_t len = le(n);
        if (len > size_ - pos_) return fail("string of " + std::to_string(len) + " bytes runs past the pickle");
        Value* v = make(Kind::String);
        v->s.assign(reinterpret_cast<const char*>(p_ + pos_), len);
        pos_ += len;
        stack_.push_back(v);
        break;
      }
      case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
        Value* v = make(Kind::Bool);
        v->i = op == 0x88;
        stack_.push_back(v);
        break;
      }
      case 'N':
        stack_.push_back(make(Kind::None));
        break;
      case 'G': {  // BINFLOAT, big-endian
        MTPC_NEED(8);
        uint64_t raw = 0;
        for (int k = 0; k < 8; ++k) raw = (raw << 8) | p_[pos_ + k];
        pos_ += 8;
        Value* v = make(Kind::Float);
        std::memcpy(&v->f, &raw, 8);
        stack_.push_back(v);
        break;
      }
      case 'c': {  // GLOBAL module\nname\n
        auto module = read_line();
        auto name = module ? read_line() : std::nullopt;
        if (!module || !name) return fail("GLOBAL without two newline-terminated names");
        MTPC_TRY(global(*module, *name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        MTPC_POP(name);
        MTPC_POP(module);
        if (module->kind != Kind::String || name->kind != Kind::String) return fail("STACK_GLOBAL needs two strings");
        MTPC_TRY(global(module->s, name->s));
        break;
      }
      case 'R': {  // REDUCE
        MTPC_POP(args);
        MTPC_POP(callable);
        MTPC_TRY(reduce(callable, args));
        break;
      }
      case 'Q': {  // BINPERSID
        MTPC_POP(pid);
        MTPC_TRY(persistent_load(pid));
        break;
      }
      case 'b': {  // BUILD: only an OrderedDict's attributes (state_dict's _metadata), ignored
        MTPC_POP(state);
        if (stack_.empty() || stack_.back()->kind != Kind::Dict)
          return fail("BUILD on something other than an OrderedDict");
        if (state->kind != Kind::Dict && state->kind != Kind::None && state->kind != Kind::Tuple)
          return fail("BUILD with an unexpected state");
        break;
      }
      case '0': {  // POP
        MTPC_POP(v);
        (void)v;
        break;
      }
      default: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "unknown or unsupported pickle opcode 0x%02x", op);
        return fail(buf);
      }
    }
  }
#undef MTPC_TRY
#undef MTPC_POP
#undef MTPC_NEED
}

}  // namespace

Result<std::vector<std::pair<std::string, PickledTensor>>> unpickle_state_dict(
    const uint8_t* data, size_t size, const std::string& source) {
  Machine machine(data, size, source);
  Result<Value*> top = Status::Error(source + ": not run");
  try {
    top = machine.run();
  } catch (const TooLarge&) {
    return Status::Error(source + ": pickle creates more than " + std::to_string(kMaxObjects) +
                         " objects; not a state dict this reader accepts");
  } catch (const std::bad_alloc&) {
    return Status::Error(source + ": out of memory while reading the pickle");
  }
  if (!top.ok()) return top.status();
  Value* dict = *top;
  if (dict->kind != Kind::Dict)
    return Status::Error(source + ": the pickle holds a value of type " + kind_name(dict->kind) + ", not a state dict");
  std::vector<std::pair<std::string, PickledTensor>> out;
  for (auto& [k, v] : dict->entries) {
    if (k->kind != Kind::String) return Status::Error(source + ": a state dict key is of type " + std::string(kind_name(k->kind)) + ", not a string");
    if (v->kind != Kind::Tensor)
      return Status::Error(source + ": entry '" + k->s + "' is of type " + kind_name(v->kind) + ", not a tensor");
    out.emplace_back(k->s, v->tensor);
  }
  return out;
}

}  // namespace mtpc
