// mmap addon: the N-API surface only. src/native.ts is its one loader and
// src/storage/mapped-file.ts its one caller; that caller validates, but this
// layer still checks every argument so bad input throws instead of crashing.
//
// Lifetime of a mapping. Each map() allocates a small Mapping. It is reachable
// from JS through its ArrayBuffer (type-tagged, then napi_wrap'ed), and it is
// kept alive by reference-counted holders:
//   - the ArrayBuffer's backing store (released by FinalizeBacking),
//   - the napi_wrap on the ArrayBuffer object (released by FinalizeWrap),
//   - every syncAsync worker in flight (released in SyncWorker::OnOK).
// The address range is munmap'ed exactly once (the `unmapped` flag), at the
// first moment when JS has given it up (`closed`: unmap() called, or the backing
// store freed) AND no worker thread is inside msync on it (`pending == 0`).
// All of these fields are touched only on the JS thread (map, unmap, finalizers,
// AsyncWorker construction and OnOK); the worker thread only reads `address`
// and `length`, which never change, and uv_queue_work orders that read after
// the construction.
#include <napi.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>

#include "errno.h"
#include "mask.h"
#include "transport.h"

namespace slabcast {
namespace {

// 2^53 - 1: the largest integer a JS number holds exactly. Sizes arrive as
// doubles and are kept in 64 bits; they are never narrowed to int (mmap-io's bug).
constexpr double kMaxSafeInteger = 9007199254740991.0;
// V8 CHECK-fails (aborts) on an ArrayBuffer longer than this, so refuse first.
constexpr uint64_t kMaxMapLength =
    sizeof(size_t) >= 8 ? static_cast<uint64_t>(kMaxSafeInteger) : static_cast<uint64_t>(INT32_MAX);

// Marks ArrayBuffers created by map(), so an unrelated ArrayBuffer (or one
// another addon wrapped) is never mistaken for a Mapping. Random, fixed.
constexpr napi_type_tag kMappingTag = {0x8f1c5a33d2e04b71ULL, 0xa61e9b07c4d35f28ULL};

// sysconf(_SC_PAGESIZE) is a process-wide constant, so one copy may be shared
// by every env (worker_threads) that loads the addon. Set in Init.
size_t g_page_size = 4096;

struct Mapping {
  uint8_t* address;
  size_t length;
  uint32_t holders;  // backing store + wrap + in-flight workers; struct deleted at 0
  uint32_t pending;  // syncAsync workers in flight; munmap waits for 0
  bool closed;       // JS gave the range up: no new sync/advise/unmap may start
  bool unmapped;     // munmap already ran: never run it twice
};

// munmap once nothing can touch the range. Returns the errno of a failed munmap.
int MaybeMunmap(Mapping* m) {
  if (!m->closed || m->pending != 0 || m->unmapped) return 0;
  m->unmapped = true;
  return munmap(m->address, m->length) == 0 ? 0 : errno;
}

// Drops one holder. The last one out closes and frees. munmap of a range this
// struct owns can only fail on programming errors (EINVAL); a finalizer has no
// JS caller to report to, so the error is dropped here and only here.
void Release(Mapping* m) {
  if (--m->holders != 0) return;
  m->closed = true;
  (void)MaybeMunmap(m);
  delete m;
}

// The backing store is gone (collected, detached by unmap() or by anyone else,
// or env teardown): no JS view can reach the memory any more.
void FinalizeBacking(napi_env /*env*/, void* /*data*/, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  m->closed = true;
  (void)MaybeMunmap(m);
  Release(m);
}

// The ArrayBuffer object itself was collected: lookups through it are over.
void FinalizeWrap(napi_env /*env*/, void* data, void* /*hint*/) { Release(static_cast<Mapping*>(data)); }

void ThrowClosed(Napi::Env env, const char* why) {
  ThrowCoded(Napi::Error::New(env, std::string("mmap: mapping is closed (") + why + ")"), "ERR_MMAP_CLOSED");
}

// Reads info[i] as an integer in [0, max]. Throws and returns false otherwise.
bool ReadInteger(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t max, uint64_t* out) {
  Napi::Env env = info.Env();
  if (!info[i].IsNumber()) {
    ThrowType(env, std::string("mmap: \"") + name + "\" must be a number");
    return false;
  }
  const double value = info[i].As<Napi::Number>().DoubleValue();
  if (!(value >= 0 && value <= kMaxSafeInteger && std::floor(value) == value) ||
      static_cast<uint64_t>(value) > max) {
    ThrowRange(env, std::string("mmap: \"") + name + "\" must be an integer in [0, " + std::to_string(max) + "]");
    return false;
  }
  *out = static_cast<uint64_t>(value);
  return true;
}

// Resolves info[0] to its live Mapping, or throws: TypeError for a
// non-ArrayBuffer, ERR_MMAP_CLOSED for one that is unknown, unmapped or detached.
Mapping* ReadMapping(const Napi::CallbackInfo& info, Napi::ArrayBuffer* buffer) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    ThrowType(env, "mmap: \"buffer\" must be an ArrayBuffer returned by map()");
    return nullptr;
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  bool tagged = false;
  if (napi_check_object_type_tag(env, ab, &kMappingTag, &tagged) != napi_ok) {
    Napi::Error::New(env).ThrowAsJavaScriptException();
    return nullptr;
  }
  void* data = nullptr;
  if (!tagged || napi_unwrap(env, ab, &data) != napi_ok || data == nullptr) {
    ThrowClosed(env, "not an ArrayBuffer returned by map()");
    return nullptr;
  }
  Mapping* m = static_cast<Mapping*>(data);
  if (m->closed) {
    ThrowClosed(env, "already unmapped");
    return nullptr;
  }
  if (ab.IsDetached()) {
    // Detached by someone other than unmap() (transfer(), structuredClone): the
    // memory may live on in another ArrayBuffer, so munmap waits for
    // FinalizeBacking, which runs when the last owner lets go.
    m->closed = true;
    ThrowClosed(env, "ArrayBuffer was detached");
    return nullptr;
  }
  *buffer = ab;
  return m;
}

// Reads info[1] (offset) and info[2] (length), checks them against the
// mapping, and widens the range to start on a page boundary, as msync and
// madvise require. `m->address` is page aligned (it came from mmap).
bool ReadRange(const Napi::CallbackInfo& info, const Mapping* m, size_t* start, size_t* length) {
  uint64_t offset = 0;
  uint64_t count = 0;
  if (!ReadInteger(info, 1, "offset", m->length, &offset) ||
      !ReadInteger(info, 2, "length", m->length - offset, &count)) {
    return false;
  }
  const uint64_t aligned = offset - (offset % g_page_size);
  *start = static_cast<size_t>(aligned);
  *length = count == 0 ? 0 : static_cast<size_t>(offset + count - aligned);
  return true;
}

// map(fd, length, offset, writable): ArrayBuffer over a MAP_SHARED mapping.
Napi::Value Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t fd = 0;
  uint64_t length = 0;
  uint64_t offset = 0;
  if (!ReadInteger(info, 0, "fd", INT_MAX, &fd) || !ReadInteger(info, 1, "length", kMaxMapLength, &length) ||
      !ReadInteger(info, 2, "offset", static_cast<uint64_t>(kMaxSafeInteger), &offset)) {
    return env.Undefined();
  }
  if (!info[3].IsBoolean()) {
    ThrowType(env, "mmap: \"writable\" must be a boolean");
    return env.Undefined();
  }
  const bool writable = info[3].As<Napi::Boolean>().Value();
  if (length == 0) {
    ThrowRange(env, "mmap: \"length\" must be > 0 (a zero-length mapping is invalid)");
    return env.Undefined();
  }
  if (offset % g_page_size != 0) {
    ThrowRange(env, "mmap: \"offset\" must be a multiple of PAGE_SIZE (" + std::to_string(g_page_size) + ")");
    return env.Undefined();
  }
  // Touching a page wholly past end of file raises SIGBUS, which kills the
  // process; refuse such a mapping of a regular file up front. If fstat fails
  // (bad fd), mmap below reports the errno itself.
  struct stat st;
  if (fstat(static_cast<int>(fd), &st) == 0 && S_ISREG(st.st_mode) &&
      offset + length > static_cast<uint64_t>(st.st_size)) {
    ThrowRange(env, "mmap: offset + length (" + std::to_string(offset + length) + ") exceeds the file size (" +
                        std::to_string(st.st_size) + ")");
    return env.Undefined();
  }
  const int prot = writable ? (PROT_READ | PROT_WRITE) : PROT_READ;
  void* address = mmap(nullptr, static_cast<size_t>(length), prot, MAP_SHARED, static_cast<int>(fd),
                       static_cast<off_t>(offset));
  if (address == MAP_FAILED) {
    ErrnoError(env, errno, "mmap").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Mapping* m = new Mapping{static_cast<uint8_t*>(address), static_cast<size_t>(length), 1, 0, false, false};
  napi_value value = nullptr;
  if (napi_create_external_arraybuffer(env, address, m->length, FinalizeBacking, m, &value) != napi_ok) {
    munmap(address, m->length);
    delete m;
    Napi::Error::New(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // From here on FinalizeBacking owns cleanup: on failure the ArrayBuffer is
  // simply dropped and collected.
  if (napi_type_tag_object(env, value, &kMappingTag) != napi_ok) {
    Napi::Error::New(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  m->holders++;
  if (napi_wrap(env, value, m, FinalizeWrap, nullptr, nullptr) != napi_ok) {
    m->holders--;
    Napi::Error::New(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Value(env, value);
}

// sync(buffer, offset, length, flags): msync on the calling thread. Meant for
// MS_ASYNC (schedules writeback, returns at once); MS_SYNC here blocks the loop,
// which is what syncAsync() exists to avoid.
Napi::Value Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab;
  Mapping* m = ReadMapping(info, &ab);
  size_t start = 0;
  size_t length = 0;
  uint64_t flags = 0;
  if (m == nullptr || !ReadRange(info, m, &start, &length) ||
      !ReadInteger(info, 3, "flags", static_cast<uint64_t>(INT_MAX), &flags)) {
    return env.Undefined();
  }
  const uint64_t mode = flags & static_cast<uint64_t>(MS_ASYNC | MS_SYNC);
  if ((flags & ~static_cast<uint64_t>(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) != 0 ||
      (mode != static_cast<uint64_t>(MS_ASYNC) && mode != static_cast<uint64_t>(MS_SYNC))) {
    ThrowRange(env, "mmap: \"flags\" must be MS_ASYNC or MS_SYNC, optionally | MS_INVALIDATE");
    return env.Undefined();
  }
  if (length != 0 && msync(m->address + start, length, static_cast<int>(flags)) != 0) {
    ErrnoError(env, errno, "msync").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// MS_SYNC msync on a libuv worker thread. The worker holds a reference on the
// Mapping (holders and pending), so unmap() or the finalizers that run
// meanwhile defer the munmap to OnOK: the worker never touches an unmapped range.
class SyncWorker : public Napi::AsyncWorker {
 public:
  SyncWorker(Napi::Env env, Mapping* m, size_t start, size_t length)
      : Napi::AsyncWorker(env, "slabcast.mmap.syncAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        mapping_(m),
        start_(start),
        length_(length) {
    m->holders++;
    m->pending++;
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (length_ != 0 && msync(mapping_->address + start_, length_, MS_SYNC) != 0) error_ = errno;
  }

  void OnOK() override {
    Napi::Env env = Env();
    mapping_->pending--;
    const int munmap_error = MaybeMunmap(mapping_);
    Release(mapping_);
    if (error_ != 0) {
      deferred_.Reject(ErrnoError(env, error_, "msync").Value());
    } else if (munmap_error != 0) {
      deferred_.Reject(ErrnoError(env, munmap_error, "munmap").Value());
    } else {
      deferred_.Resolve(env.Undefined());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Mapping* mapping_;
  size_t start_;
  size_t length_;
  int error_ = 0;  // written by Execute, read by OnOK (ordered by libuv)
};

// syncAsync(buffer, offset, length): Promise<void>, durable once resolved.
Napi::Value SyncAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab;
  Mapping* m = ReadMapping(info, &ab);
  size_t start = 0;
  size_t length = 0;
  if (m == nullptr || !ReadRange(info, m, &start, &length)) return env.Undefined();
  SyncWorker* worker = new SyncWorker(env, m, start, length);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// advise(buffer, offset, length, advice): madvise on the page-aligned range.
Napi::Value Advise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab;
  Mapping* m = ReadMapping(info, &ab);
  size_t start = 0;
  size_t length = 0;
  uint64_t advice = 0;
  if (m == nullptr || !ReadRange(info, m, &start, &length) ||
      !ReadInteger(info, 3, "advice", static_cast<uint64_t>(INT_MAX), &advice)) {
    return env.Undefined();
  }
  const int a = static_cast<int>(advice);
  if (a != MADV_NORMAL && a != MADV_SEQUENTIAL && a != MADV_RANDOM && a != MADV_WILLNEED && a != MADV_DONTNEED) {
    ThrowRange(env, "mmap: \"advice\" must be one of the exported MADV_* constants");
    return env.Undefined();
  }
  if (length != 0 && madvise(m->address + start, length, a) != 0) {
    ErrnoError(env, errno, "madvise").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// unmap(buffer): detach first (every view drops to length 0, so JS can no
// longer reach the range), then munmap, unless a syncAsync is in flight, in
// which case its OnOK does the munmap.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab;
  Mapping* m = ReadMapping(info, &ab);
  if (m == nullptr) return env.Undefined();
  ab.Detach();
  if (env.IsExceptionPending()) return env.Undefined();
  m->closed = true;
  const int error = MaybeMunmap(m);
  if (error != 0) ErrnoError(env, error, "munmap").ThrowAsJavaScriptException();
  return env.Undefined();
}

// lockExclusive(fd): flock(LOCK_EX | LOCK_NB). true: this open file description
// now holds the lock (released by unlock() or when its last descriptor closes);
// false: another open file description holds it (EWOULDBLOCK). Other errno throws.
Napi::Value LockExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t fd = 0;
  if (!ReadInteger(info, 0, "fd", static_cast<uint64_t>(INT_MAX), &fd)) return env.Undefined();
  int r;
  do {
    r = flock(static_cast<int>(fd), LOCK_EX | LOCK_NB);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  ErrnoError(env, errno, "flock").ThrowAsJavaScriptException();
  return env.Undefined();
}

// unlock(fd): flock(LOCK_UN).
Napi::Value Unlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t fd = 0;
  if (!ReadInteger(info, 0, "fd", static_cast<uint64_t>(INT_MAX), &fd)) return env.Undefined();
  if (flock(static_cast<int>(fd), LOCK_UN) != 0) ErrnoError(env, errno, "flock").ThrowAsJavaScriptException();
  return env.Undefined();
}

// descriptorLimit(): the soft RLIMIT_NOFILE (descriptor numbers are below it),
// or -1 when it is unlimited.
Napi::Value DescriptorLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    ErrnoError(env, errno, "getrlimit").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > static_cast<rlim_t>(INT_MAX)) return Napi::Number::New(env, -1);
  return Napi::Number::New(env, static_cast<double>(limit.rlim_cur));
}

// fallocate(fd, offset, length): posix_fallocate, so every block of the range
// exists before a byte of it is written through a mapping. A page with no
// block behind it raises SIGBUS when the filesystem cannot allocate one at
// write fault time (full disk, quota); reserving first turns that into an
// ENOSPC/EDQUOT here. The file grows to offset + length if it is shorter.
// posix_fallocate returns the error number instead of setting errno.
Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t fd = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  if (!ReadInteger(info, 0, "fd", INT_MAX, &fd) ||
      !ReadInteger(info, 1, "offset", static_cast<uint64_t>(kMaxSafeInteger), &offset) ||
      !ReadInteger(info, 2, "length", static_cast<uint64_t>(kMaxSafeInteger) - offset, &length)) {
    return env.Undefined();
  }
  if (length == 0) {
    ThrowRange(env, "fallocate: \"length\" must be > 0");
    return env.Undefined();
  }
  int error = 0;
  do {
    error = posix_fallocate(static_cast<int>(fd), static_cast<off_t>(offset), static_cast<off_t>(length));
  } while (error == EINTR);
  if (error != 0) ErrnoError(env, error, "posix_fallocate").ThrowAsJavaScriptException();
  return env.Undefined();
}

// statvfs(path, out): fills out[0..5) with f_frsize, f_blocks, f_bfree,
// f_bavail and 1 if the filesystem is mounted read-only (ST_RDONLY), else 0.
// Block counts, not bytes: the caller multiplies (doubles hold 2^53 exactly).
// Writes into the caller's Float64Array so a sample allocates nothing.
Napi::Value Statvfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    ThrowType(env, "statvfs: \"path\" must be a string");
    return env.Undefined();
  }
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[1].As<Napi::Float64Array>().ElementLength() < 5) {
    ThrowType(env, "statvfs: \"out\" must be a Float64Array of at least 5 elements");
    return env.Undefined();
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) {
    Napi::Error error = ErrnoError(env, errno, "statvfs");
    error.Value().Set("path", info[0]);
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Float64Array out = info[1].As<Napi::Float64Array>();
  out[0] = static_cast<double>(st.f_frsize);
  out[1] = static_cast<double>(st.f_blocks);
  out[2] = static_cast<double>(st.f_bfree);
  out[3] = static_cast<double>(st.f_bavail);
  out[4] = (st.f_flag & ST_RDONLY) != 0 ? 1 : 0;
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size > 0) g_page_size = static_cast<size_t>(page_size);
  exports.Set("map", Napi::Function::New(env, Map, "map"));
  exports.Set("sync", Napi::Function::New(env, Sync, "sync"));
  exports.Set("syncAsync", Napi::Function::New(env, SyncAsync, "syncAsync"));
  exports.Set("advise", Napi::Function::New(env, Advise, "advise"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("lockExclusive", Napi::Function::New(env, LockExclusive, "lockExclusive"));
  exports.Set("unlock", Napi::Function::New(env, Unlock, "unlock"));
  exports.Set("descriptorLimit", Napi::Function::New(env, DescriptorLimit, "descriptorLimit"));
  exports.Set("fallocate", Napi::Function::New(env, Fallocate, "fallocate"));
  exports.Set("statvfs", Napi::Function::New(env, Statvfs, "statvfs"));
  // Constants come from the system headers, never from TypeScript literals.
  exports.Set("PAGE_SIZE", Napi::Number::New(env, static_cast<double>(g_page_size)));
  exports.Set("MS_ASYNC", Napi::Number::New(env, MS_ASYNC));
  exports.Set("MS_SYNC", Napi::Number::New(env, MS_SYNC));
  exports.Set("MS_INVALIDATE", Napi::Number::New(env, MS_INVALIDATE));
  exports.Set("MADV_NORMAL", Napi::Number::New(env, MADV_NORMAL));
  exports.Set("MADV_SEQUENTIAL", Napi::Number::New(env, MADV_SEQUENTIAL));
  exports.Set("MADV_RANDOM", Napi::Number::New(env, MADV_RANDOM));
  exports.Set("MADV_WILLNEED", Napi::Number::New(env, MADV_WILLNEED));
  exports.Set("MADV_DONTNEED", Napi::Number::New(env, MADV_DONTNEED));
  return exports;
}

}  // namespace
}  // namespace slabcast

// NODE_API_MODULE pastes its second argument into an identifier, so it needs
// an unqualified name.
static Napi::Object InitMmap(Napi::Env env, Napi::Object exports) {
  slabcast::InitTransport(env, exports);
  slabcast::InitMask(env, exports);
  return slabcast::Init(env, exports);
}

NODE_API_MODULE(slabcast, InitMmap)
