// WebSocket masking (RFC 6455 §5.3) as one pass over the bytes: the payload of a streamed frame is
// unmasked on its way from the socket's read buffer to where it is kept (a file mapping, a message
// block), instead of an in-place XOR followed by a copy. Exported as `mask`, and as `unmask` for the
// in-place XOR of a payload parsed whole (the per-frame call). JS keeps its own loop for short runs,
// where the call would cost more than it saves.
#include <napi.h>

#include <cstdint>
#include <cstring>

#include "mask.h"

namespace slabcast {
namespace {

// Bounds of a Uint8Array argument as [data, length).
bool BytesOf(const Napi::Value& value, uint8_t** data, size_t* length) {
  if (!value.IsTypedArray()) return false;
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (array.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
  *data = bytes.Data();
  *length = bytes.ByteLength();
  return true;
}

// Reads a non-negative integer argument that is at most `max`.
bool IndexOf(const Napi::Value& value, size_t max, size_t* out) {
  if (!value.IsNumber()) return false;
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > static_cast<double>(max) || d != static_cast<double>(static_cast<size_t>(d))) return false;
  *out = static_cast<size_t>(d);
  return true;
}

// 32 bytes as one vector value (GCC/Clang vector extension): two SSE2 registers on a baseline
// x86-64 build, one AVX2 register in the AVX2 clone below. Loads and stores go through memcpy, so
// neither src nor dst needs any alignment.
typedef uint64_t Block __attribute__((vector_size(32)));

// AVX2 where the CPU has it, chosen once at load by the dynamic linker (an ifunc: glibc only).
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define SLABCAST_MASK_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef SLABCAST_MASK_CLONES
#define SLABCAST_MASK_CLONES
#endif

// dst[i] = src[i] ^ key[(phase + i) & 3] for i in [0, n). `key` holds the masking key in wire order
// in its bytes (key[0] first). src and dst may be the same range (in place), never overlapping otherwise.
// 128 bytes per round in four independent vector registers (the loop is bound by loads and stores).
SLABCAST_MASK_CLONES
void MaskCopy(const uint8_t* src, uint8_t* dst, size_t n, const uint8_t key[4], size_t phase) {
  uint8_t k[8];
  for (int i = 0; i < 8; i++) k[i] = key[(phase + i) & 3];
  uint64_t k64;
  std::memcpy(&k64, k, 8);
  const Block kv = {k64, k64, k64, k64};
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    Block a, b, c, d;
    std::memcpy(&a, src + i, 32);
    std::memcpy(&b, src + i + 32, 32);
    std::memcpy(&c, src + i + 64, 32);
    std::memcpy(&d, src + i + 96, 32);
    a ^= kv;
    b ^= kv;
    c ^= kv;
    d ^= kv;
    std::memcpy(dst + i, &a, 32);
    std::memcpy(dst + i + 32, &b, 32);
    std::memcpy(dst + i + 64, &c, 32);
    std::memcpy(dst + i + 96, &d, 32);
  }
  for (; i + 32 <= n; i += 32) {
    Block a;
    std::memcpy(&a, src + i, 32);
    a ^= kv;
    std::memcpy(dst + i, &a, 32);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= k64;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; i++) dst[i] = src[i] ^ k[i & 7];
}

// mask(src, srcStart, srcEnd, dst, dstStart, key, phase): XORs src[srcStart, srcEnd) with the 4-byte
// masking key `key` (a Uint8Array, wire order), starting at key byte `phase & 3`, into dst at
// dstStart. Throws a RangeError on any bad argument (never a crash).
Napi::Value Mask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* src = nullptr;
  uint8_t* dst = nullptr;
  uint8_t* key = nullptr;
  size_t src_len = 0;
  size_t dst_len = 0;
  size_t key_len = 0;
  size_t start = 0;
  size_t end = 0;
  size_t at = 0;
  size_t phase = 0;
  const bool ok = info.Length() >= 7 && BytesOf(info[0], &src, &src_len) && IndexOf(info[2], src_len, &end) &&
                  IndexOf(info[1], end, &start) && BytesOf(info[3], &dst, &dst_len) && IndexOf(info[4], dst_len, &at) &&
                  end - start <= dst_len - at && BytesOf(info[5], &key, &key_len) && key_len == 4 &&
                  IndexOf(info[6], SIZE_MAX >> 1, &phase);
  if (!ok) {
    Napi::RangeError::New(env, "mask(src, srcStart, srcEnd, dst, dstStart, key, phase): bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint8_t* from = src + start;
  uint8_t* to = dst + at;
  const size_t n = end - start;
  // Same bytes (in place) are fine; any other overlap would read bytes already written.
  if (from != to && from < to + n && to < from + n) {
    Napi::RangeError::New(env, "mask: source and destination overlap").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  MaskCopy(from, to, n, key, phase);
  return env.Undefined();
}

// A non-negative integer argument up to 2^53 (any typed array index).
bool IndexArg(napi_env env, napi_value value, int64_t* out) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) return false;
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<int64_t>(d))) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

// unmask(buf, start, end, key, phase): XORs buf[start, end) in place with the masking key, given as
// one uint32 holding the key bytes in wire order (key[0] in the high byte), from key byte `phase & 3`.
// The per-frame path (every long payload parsed whole is unmasked where it was read): plain N-API
// with one typed-array lookup and numbers for the rest, where mask() pays for three typed arrays.
// Throws a RangeError on any bad argument.
napi_value Unmask(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  int64_t start = 0;
  int64_t end = 0;
  int64_t phase = 0;
  uint32_t key = 0;
  const bool ok = napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc >= 5 &&
                  napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr) == napi_ok &&
                  type == napi_uint8_array && IndexArg(env, argv[1], &start) && IndexArg(env, argv[2], &end) &&
                  start <= end && static_cast<uint64_t>(end) <= length &&
                  napi_get_value_uint32(env, argv[3], &key) == napi_ok && IndexArg(env, argv[4], &phase);
  if (!ok) {
    napi_throw_range_error(env, nullptr, "unmask(buf, start, end, key, phase): bad arguments");
    return nullptr;
  }
  const uint8_t bytes[4] = {static_cast<uint8_t>(key >> 24), static_cast<uint8_t>(key >> 16),
                            static_cast<uint8_t>(key >> 8), static_cast<uint8_t>(key)};
  uint8_t* at = static_cast<uint8_t*>(data) + start;
  MaskCopy(at, at, static_cast<size_t>(end - start), bytes, static_cast<size_t>(phase));
  return nullptr;
}

}  // namespace

void InitMask(Napi::Env env, Napi::Object exports) {
  exports.Set("mask", Napi::Function::New(env, Mask, "mask"));
  napi_value unmask;
  napi_create_function(env, "unmask", NAPI_AUTO_LENGTH, Unmask, nullptr, &unmask);
  exports.Set("unmask", Napi::Value(env, unmask));
}

}  // namespace slabcast
