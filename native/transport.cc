// transport addon: TCP connections owned by libuv handles in C++, not by
// net.Socket objects (the java-nio-server "selector" side of the core).
//
// Why: a net.Socket with its TCPWrap, stream states and EventEmitter costs about
// 2 KB of memory per connection and a JS call (with a microtask checkpoint) per
// read and per write. Here a connection is a uv_tcp_t and 5 bytes, in blocks
// indexed by slot number (by which alone JS knows it), and I/O crosses into JS
// in batches:
//
//   poll phase   libuv read callbacks append events to a shared Int32Array and
//                the bytes to one shared arena Buffer (no JS runs, nothing is
//                allocated per read);
//   check/idle   one JS call `onEvents(count)` per loop iteration delivers them
//                all (the processor's "select" result); the arena is then reused.
//
// Writes come from JS as one send(2)/sendmsg(2) per socket (no request object, no
// callback when the kernel takes everything: the common case; not write(2), whose
// file layer costs every call more than the socket layer does); what the kernel does not take is
// queued with uv_write, the JS buffers referenced until a WRITE_DONE event. JS
// may write bytes of the arena itself during a delivery (an echo sends the
// received payload where it was read): what of them is not taken at once is
// copied, never queued by reference.
//
// The JS caller (src/core/native-transport.ts) validates and owns the state
// machine; this layer still checks slots so a stale slot throws, not crashes.
// Every function runs on the JS thread of the env that loaded the addon.
#include <napi.h>
#include <uv.h>

#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "errno.h"
#include "transport.h"

namespace slabcast {
namespace {

// Event kinds (4 int32 each: kind, slot, a, b). Exported to JS by name.
enum EventKind : int32_t {
  kEventData = 1,       // a = arena offset, b = length
  kEventEof = 2,        // the peer sent FIN
  kEventError = 3,      // a = negative errno (uv error), b = syscall (kSys*)
  kEventWriteDone = 4,  // a = status (0 or negative errno): the oldest queued write left
  kEventClose = 5,      // the handle is closed; the slot is reused after this batch
};
enum Syscall : int32_t { kSysRead = 1, kSysWrite = 2, kSysShutdown = 3 };

constexpr int kEventInts = 4;
// Reads stop (ENOBUFS, retried next iteration: epoll is level-triggered) when
// fewer than this many event slots or arena bytes are left, so a burst never
// overruns the batch; control events always find room (overflow vector).
constexpr uint32_t kReserveEvents = 64;
constexpr size_t kMinReadBytes = 4096;
constexpr size_t kMaxReadBytes = 64 * 1024;
// Past this many arena bytes the batch is delivered at once, from the read callback, instead of
// at the end of the poll phase: the arena's hot start stays in the CPU cache while large messages
// stream in (a 1 MiB walk through cold memory cost ~15% on 16 KiB echoes).
constexpr size_t kDeliverBytes = 128 * 1024;

enum ConnFlags : uint8_t {
  kReading = 1,
  kEof = 2,
  kShutdownSent = 4,
  kShutdownDone = 8,
  kClosing = 16,
  kLive = 32,  // the slot holds a connection JS knows (until its handle's close callback)
};

struct Transport;

// One connection: the libuv handle and two small fields, no separate allocation. Conns live in
// blocks indexed by slot (Transport::At); the handle comes first, so a handle pointer is its Conn,
// and the handle's `data` points to the Transport.
struct Conn {
  uv_tcp_t tcp;
  int32_t slot;
  uint8_t flags;
};
constexpr size_t kBlockShift = 8;  // 256 Conns (64 KiB) per block
constexpr size_t kBlockConns = size_t{1} << kBlockShift;

Conn* ConnOf(uv_handle_t* handle) { return reinterpret_cast<Conn*>(handle); }
Transport* TransportOf(Conn* c) { return static_cast<Transport*>(c->tcp.data); }

struct WriteReq {
  uv_write_t req;
  Transport* transport;
  int32_t slot;
  std::vector<napi_ref> refs;  // keeps the JS buffers alive until the kernel took them
  std::vector<char> copied;    // the untaken bytes of buffers that were in the read arena
};

struct Transport {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  napi_ref arena_ref = nullptr;
  napi_ref events_ref = nullptr;
  napi_ref callback_ref = nullptr;
  napi_async_context async_context = nullptr;
  uint8_t* arena = nullptr;
  size_t arena_size = 0;
  size_t arena_used = 0;
  int32_t* events = nullptr;
  uint32_t event_capacity = 0;  // in events
  uint32_t event_count = 0;
  std::vector<int32_t> overflow;  // control events when the array is full
  std::vector<std::unique_ptr<Conn[]>> blocks;  // slot s is blocks[s >> kBlockShift][s & (kBlockConns - 1)]
  uint32_t slot_count = 0;                      // slots handed out at least once
  std::vector<int32_t> free_slots;
  std::vector<int32_t> closed_slots;  // freed after JS has seen their CLOSE
  uv_check_t check;
  uv_idle_t idle;
  bool armed = false;
  bool delivering = false;
  bool initialized = false;
  bool tearing_down = false;  // env teardown: no more events, no more napi calls
  uint32_t open = 0;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  uint32_t teardown_pending = 0;  // handles whose close callback teardown still waits for

  Conn* At(int32_t slot) {
    const size_t s = static_cast<size_t>(slot);
    return &blocks[s >> kBlockShift][s & (kBlockConns - 1)];
  }

  // writeBatch()'s scratch, reused from batch to batch: the batch's buffers, one socket's iovecs.
  std::vector<uv_buf_t> batch_bases;
  std::vector<napi_value> batch_values;
  std::vector<uv_buf_t> batch_iov;
  std::vector<napi_value> batch_iov_values;
};

void Deliver(Transport* t);

void OnCheck(uv_check_t* handle) { Deliver(static_cast<Transport*>(handle->data)); }
void OnIdle(uv_idle_t* handle) { Deliver(static_cast<Transport*>(handle->data)); }

// Asks for a delivery in this iteration's check phase, or (events recorded
// outside the poll phase, e.g. close callbacks) the next iteration's idle
// phase; an active idle handle also keeps the poll phase from blocking.
void Arm(Transport* t) {
  if (t->armed) return;
  t->armed = true;
  uv_check_start(&t->check, OnCheck);
  uv_idle_start(&t->idle, OnIdle);
}

void Push(Transport* t, int32_t kind, int32_t slot, int32_t a, int32_t b) {
  if (t->tearing_down) return;  // the loop handles are closing and nobody will read the events
  if (t->event_count < t->event_capacity) {
    int32_t* e = t->events + static_cast<size_t>(t->event_count) * kEventInts;
    e[0] = kind;
    e[1] = slot;
    e[2] = a;
    e[3] = b;
    t->event_count++;
  } else {
    t->overflow.insert(t->overflow.end(), {kind, slot, a, b});
  }
  Arm(t);
}

void FreeClosedSlots(Transport* t) {
  for (int32_t slot : t->closed_slots) t->free_slots.push_back(slot);
  t->closed_slots.clear();
}

// One JS call with every event recorded since the last one. JS must copy what
// it keeps of the arena: it is reused as soon as the call returns.
void Deliver(Transport* t) {
  if (t->delivering) return;
  if (t->armed) {
    t->armed = false;
    uv_check_stop(&t->check);
    uv_idle_stop(&t->idle);
  }
  if (t->event_count == 0 && t->overflow.empty()) return;
  t->delivering = true;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    t->delivering = false;
    return;
  }
  napi_value callback, recv, argv[1], result;
  napi_get_reference_value(env, t->callback_ref, &callback);
  napi_get_global(env, &recv);  // make_callback needs an object receiver
  for (;;) {
    const uint32_t count = t->event_count;
    napi_create_uint32(env, count, &argv[0]);
    const napi_status status = napi_make_callback(env, t->async_context, recv, callback, 1, argv, &result);
    t->event_count = 0;
    t->arena_used = 0;
    if (status == napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
    if (t->overflow.empty()) break;
    // Move up to a batch of overflowed control events into the array and go again.
    const size_t ints = t->overflow.size();
    const size_t take = std::min(ints, static_cast<size_t>(t->event_capacity) * kEventInts);
    std::memcpy(t->events, t->overflow.data(), take * sizeof(int32_t));
    t->overflow.erase(t->overflow.begin(), t->overflow.begin() + static_cast<std::ptrdiff_t>(take));
    t->event_count = static_cast<uint32_t>(take / kEventInts);
  }
  // Only now has JS seen every CLOSE: their slots may be handed out again.
  FreeClosedSlots(t);
  napi_close_handle_scope(env, scope);
  t->delivering = false;
}

void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  (void)suggested;
  Transport* t = static_cast<Transport*>(handle->data);
  const size_t left = t->arena_size - t->arena_used;
  if (t->delivering || left < kMinReadBytes || t->event_count + kReserveEvents > t->event_capacity) {
    *buf = uv_buf_init(nullptr, 0);  // UV_ENOBUFS: the bytes stay in the kernel until the next iteration
    return;
  }
  const size_t n = left < kMaxReadBytes ? left : kMaxReadBytes;
  *buf = uv_buf_init(reinterpret_cast<char*>(t->arena + t->arena_used), static_cast<unsigned int>(n));
}

void CloseConn(Conn* c);
void TeardownStep(Transport* t);

void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = ConnOf(reinterpret_cast<uv_handle_t*>(stream));
  Transport* t = TransportOf(c);
  if (nread > 0) {
    const size_t offset = static_cast<size_t>(reinterpret_cast<uint8_t*>(buf->base) - t->arena);
    t->arena_used = offset + static_cast<size_t>(nread);
    Push(t, kEventData, c->slot, static_cast<int32_t>(offset), static_cast<int32_t>(nread));
    // JS may close or stop this very stream: libuv's read loop checks for both after we return.
    if (t->arena_used >= kDeliverBytes) Deliver(t);
    return;
  }
  if (nread == 0 || nread == UV_ENOBUFS) return;  // EAGAIN, or no room: read again later
  if (nread == UV_EOF) {
    c->flags = static_cast<uint8_t>((c->flags | kEof) & ~kReading);
    Push(t, kEventEof, c->slot, 0, 0);
    if ((c->flags & kShutdownDone) != 0) CloseConn(c);
    return;
  }
  c->flags = static_cast<uint8_t>(c->flags & ~kReading);
  uv_read_stop(stream);
  Push(t, kEventError, c->slot, static_cast<int32_t>(nread), kSysRead);
}

void OnClosed(uv_handle_t* handle) {
  Conn* c = ConnOf(handle);
  Transport* t = TransportOf(c);
  const int32_t slot = c->slot;
  c->flags = 0;
  t->closed_slots.push_back(slot);
  t->open--;
  Push(t, kEventClose, slot, 0, 0);
  if (t->tearing_down) TeardownStep(t);
}

void CloseConn(Conn* c) {
  if ((c->flags & kClosing) != 0) return;
  c->flags |= kClosing;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), OnClosed);
}

void OnWritten(uv_write_t* req, int status) {
  WriteReq* w = static_cast<WriteReq*>(req->data);
  Transport* t = w->transport;
  // During env teardown the env releases its references itself.
  if (!t->tearing_down) {
    for (napi_ref ref : w->refs) napi_delete_reference(t->env, ref);
  }
  const int32_t slot = w->slot;
  delete w;
  // A write cancelled by close (UV_ECANCELED) needs no event: JS releases everything on CLOSE.
  if (status == UV_ECANCELED) return;
  Push(t, kEventWriteDone, slot, status, 0);
}

void OnShutdown(uv_shutdown_t* req, int status) {
  Conn* c = ConnOf(reinterpret_cast<uv_handle_t*>(req->handle));
  delete req;
  if (status == UV_ECANCELED) return;
  Transport* t = TransportOf(c);
  if (status != 0) {
    Push(t, kEventError, c->slot, status, kSysShutdown);
    return;
  }
  c->flags |= kShutdownDone;
  if ((c->flags & kEof) != 0) CloseConn(c);
}

Transport* Get(const Napi::CallbackInfo& info) {
  Transport* t = info.Env().GetInstanceData<Transport>();
  if (t == nullptr || !t->initialized) {
    Napi::Error::New(info.Env(), "transport: init() was not called").ThrowAsJavaScriptException();
    return nullptr;
  }
  return t;
}

// The live connection in slot info[0]. nullptr when the slot's handle is
// already closed (its CLOSE event not yet seen by JS: the call is a no-op), or
// with an exception pending when the slot was never handed out.
Conn* GetConn(const Napi::CallbackInfo& info, Transport** out) {
  Transport* t = Get(info);
  if (t == nullptr) return nullptr;
  *out = t;
  const Napi::Value v = info[0];
  if (!v.IsNumber()) {
    ThrowType(info.Env(), "transport: \"slot\" must be a number");
    return nullptr;
  }
  const int32_t slot = v.As<Napi::Number>().Int32Value();
  if (slot < 0 || static_cast<uint32_t>(slot) >= t->slot_count) {
    ThrowRange(info.Env(), "transport: no connection in this slot");
    return nullptr;
  }
  Conn* c = t->At(slot);
  return (c->flags & kLive) != 0 ? c : nullptr;
}

// init(arena: Buffer, events: Int32Array, onEvents(count)): once per env.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = env.GetInstanceData<Transport>();
  if (t->initialized) {
    Napi::Error::New(env, "transport: init() was already called").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!info[0].IsBuffer() || !info[1].IsTypedArray() || !info[2].IsFunction()) {
    ThrowType(env, "transport: init(arena: Buffer, events: Int32Array, onEvents: Function)");
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> arena = info[0].As<Napi::Buffer<uint8_t>>();
  Napi::TypedArray typed = info[1].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_int32_array || typed.ElementLength() < kEventInts * (kReserveEvents * 2) ||
      arena.Length() < kMaxReadBytes) {
    ThrowRange(env, "transport: the arena must hold 64 KiB and the event array 128 events");
    return env.Undefined();
  }
  Napi::Int32Array events = typed.As<Napi::Int32Array>();
  t->arena = arena.Data();
  t->arena_size = arena.Length();
  t->events = events.Data();
  t->event_capacity = static_cast<uint32_t>(events.ElementLength() / kEventInts);
  napi_create_reference(env, arena, 1, &t->arena_ref);
  napi_create_reference(env, events, 1, &t->events_ref);
  napi_create_reference(env, info[2], 1, &t->callback_ref);
  napi_async_init(env, nullptr, Napi::String::New(env, "slabcast.transport"), &t->async_context);
  t->initialized = true;
  return env.Undefined();
}

// adopt(fd[, limit]): takes over a connected TCP socket by duplicating `fd`
// (the caller then closes its own descriptor). Returns the slot. A duplicate
// numbered at or past `limit` (the caller's descriptor budget) is closed again
// and reported as EMFILE, like a full table: the connection is refused.

Napi::Value Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = Get(info);
  if (t == nullptr) return env.Undefined();
  if (!info[0].IsNumber()) {
    ThrowType(env, "transport: \"fd\" must be a number");
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) {
    ErrnoError(env, errno, "dup").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() > 1 && info[1].IsNumber() && dup_fd >= info[1].As<Napi::Number>().Int64Value()) {
    close(dup_fd);
    ErrnoError(env, EMFILE, "dup").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int32_t slot;
  if (!t->free_slots.empty()) {
    slot = t->free_slots.back();
    t->free_slots.pop_back();
  } else {
    slot = static_cast<int32_t>(t->slot_count++);
    if ((static_cast<size_t>(slot) >> kBlockShift) == t->blocks.size()) t->blocks.emplace_back(new Conn[kBlockConns]());
  }
  Conn* c = t->At(slot);
  c->slot = slot;
  c->flags = 0;
  uv_tcp_init(t->loop, &c->tcp);
  c->tcp.data = t;
  int r = uv_tcp_open(&c->tcp, dup_fd);
  if (r == 0) r = uv_tcp_nodelay(&c->tcp, 1);
  if (r != 0) {
    // The slot is free again once the handle is closed; the descriptor is ours to close.
    c->flags = kClosing;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) {
      Conn* closed = ConnOf(h);
      Transport* owner = TransportOf(closed);
      closed->flags = 0;
      owner->free_slots.push_back(closed->slot);
      if (owner->tearing_down) TeardownStep(owner);
    });
    close(dup_fd);
    ErrnoError(env, -r, "uv_tcp_open").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  c->flags = kLive;
  t->open++;
  return Napi::Number::New(env, slot);
}

Napi::Value ReadStart(const Napi::CallbackInfo& info) {
  Transport* t;
  Conn* c = GetConn(info, &t);
  if (c == nullptr) return info.Env().Undefined();
  if ((c->flags & (kReading | kEof | kClosing)) == 0) {
    const int r = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), OnAlloc, OnRead);
    if (r == 0) c->flags |= kReading;
    else Push(t, kEventError, c->slot, r, kSysRead);
  }
  return info.Env().Undefined();
}

Napi::Value ReadStop(const Napi::CallbackInfo& info) {
  Transport* t;
  Conn* c = GetConn(info, &t);
  if (c == nullptr) return info.Env().Undefined();
  if ((c->flags & kReading) != 0) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->flags = static_cast<uint8_t>(c->flags & ~kReading);
  }
  return info.Env().Undefined();
}

// Whether `buf` lies in the read arena, which is reused as soon as the delivery returns.
bool InArena(const Transport* t, const uv_buf_t& buf) {
  const char* arena = reinterpret_cast<const char*>(t->arena);
  return buf.base >= arena && buf.base < arena + t->arena_size;
}

// Queues bufs[skip bytes..] with uv_write, holding a reference to each JS value. Bytes in the read
// arena (JS writes received bytes in place during a delivery: an echo) are copied instead, the
// untaken part only: the next read overwrites the arena. Returns 0 or a negative uv error.
int QueueRest(Napi::Env env, Transport* t, Conn* c, uv_buf_t* bufs, napi_value* values, size_t n, size_t skip) {
  size_t first = 0;
  while (first < n && skip >= bufs[first].len) {
    skip -= bufs[first].len;
    first++;
  }
  if (first == n) return 0;
  bufs[first].base += skip;
  bufs[first].len -= static_cast<unsigned int>(skip);
  WriteReq* w = new WriteReq();
  w->transport = t;
  w->slot = c->slot;
  w->req.data = w;
  w->refs.reserve(n - first);
  size_t arena_bytes = 0;
  for (size_t i = first; i < n; i++) {
    if (InArena(t, bufs[i])) arena_bytes += bufs[i].len;
  }
  if (arena_bytes > 0) w->copied.resize(arena_bytes);
  char* to = w->copied.data();
  for (size_t i = first; i < n; i++) {
    if (InArena(t, bufs[i])) {
      std::memcpy(to, bufs[i].base, bufs[i].len);
      bufs[i].base = to;
      to += bufs[i].len;
      continue;
    }
    napi_ref ref;
    napi_create_reference(env, values[i], 1, &ref);
    w->refs.push_back(ref);
  }
  const int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), bufs + first,
                         static_cast<unsigned int>(n - first), OnWritten);
  if (r != 0) {
    for (napi_ref ref : w->refs) napi_delete_reference(env, ref);
    delete w;
  }
  return r;
}

bool ReadView(Napi::Env env, napi_value value, uv_buf_t* out) {
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (!is_typed) return false;
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  napi_get_typedarray_info(env, value, &type, &length, &data, &ab, &offset);
  if (type != napi_uint8_array) return false;
  *out = uv_buf_init(static_cast<char*>(data), static_cast<unsigned int>(length));
  return true;
}

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
#else
constexpr int kSendFlags = MSG_DONTWAIT;  // SIGPIPE is ignored by Node itself
#endif
#ifdef IOV_MAX
constexpr size_t kMaxIov = IOV_MAX;
#else
constexpr size_t kMaxIov = 1024;
#endif

// uv_try_write() for a connected TCP socket with no write queued, through the socket layer:
// send(2) for one buffer, sendmsg(2) for several (at most IOV_MAX; the rest is left for the
// queue). Bytes taken, UV_EAGAIN when none, or a negative uv error.
int64_t SendNow(Conn* c, uv_buf_t* bufs, size_t n) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&c->tcp), &fd) != 0) return UV_EBADF;
  ssize_t r;
  do {
    if (n == 1) {
      r = send(fd, bufs[0].base, bufs[0].len, kSendFlags);
    } else {
      struct msghdr msg;
      std::memset(&msg, 0, sizeof(msg));
      msg.msg_iov = reinterpret_cast<struct iovec*>(bufs);  // uv_buf_t is struct iovec on Unix
      msg.msg_iovlen = n < kMaxIov ? n : kMaxIov;
      r = sendmsg(fd, &msg, kSendFlags);
    }
  } while (r < 0 && errno == EINTR);
  if (r >= 0) return static_cast<int64_t>(r);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return UV_EAGAIN;
  return -errno;  // libuv's error codes are negated errno values on Unix
}

// Tries `bufs` at once; queues the rest. Returns bytes the kernel took now
// (== total: done, no event; < total: one WRITE_DONE event follows), or a
// negative uv error (nothing queued).
int64_t WriteBufs(Napi::Env env, Transport* t, Conn* c, uv_buf_t* bufs, napi_value* values, size_t n, size_t total) {
  if ((c->flags & (kClosing | kShutdownSent)) != 0) return UV_EPIPE;
  // Behind queued writes nothing may leave first (uv_try_write's rule).
  const int64_t r = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 ? static_cast<int64_t>(UV_EAGAIN) : SendNow(c, bufs, n);
  size_t written = 0;
  if (r >= 0) written = static_cast<size_t>(r);
  else if (r != UV_EAGAIN) return r;
  if (written == total) return static_cast<int64_t>(written);
  const int q = QueueRest(env, t, c, bufs, values, n, written);
  if (q != 0) return q;
  return static_cast<int64_t>(written);
}

// writeSlice(slot, buffer: Uint8Array, offset, length): writes buffer[offset,
// offset + length) (no view object per write) → bytes the kernel took now (all:
// done; fewer: the rest is queued, one WRITE_DONE follows), or a negative uv error.
Napi::Value WriteSlice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t;
  Conn* c = GetConn(info, &t);
  if (c == nullptr) return env.IsExceptionPending() ? env.Undefined() : Napi::Number::New(env, UV_EPIPE);
  uv_buf_t buf;
  napi_value value = info[1];
  if (!ReadView(env, value, &buf) || !info[2].IsNumber() || !info[3].IsNumber()) {
    ThrowType(env, "transport: writeSlice(slot, Uint8Array, offset, length)");
    return env.Undefined();
  }
  const double offset = info[2].As<Napi::Number>().DoubleValue();
  const double length = info[3].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0) || !(length >= 0) || offset + length > static_cast<double>(buf.len)) {
    ThrowRange(env, "transport: writeSlice range outside the buffer");
    return env.Undefined();
  }
  buf.base += static_cast<size_t>(offset);
  buf.len = static_cast<unsigned int>(length);
  return Napi::Number::New(env, static_cast<double>(WriteBufs(env, t, c, &buf, &value, 1, buf.len)));
}

// writev(slot, views: Uint8Array[], count) → as writeSlice().
Napi::Value Writev(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t;
  Conn* c = GetConn(info, &t);
  if (c == nullptr) return env.IsExceptionPending() ? env.Undefined() : Napi::Number::New(env, UV_EPIPE);
  if (!info[1].IsArray() || !info[2].IsNumber()) {
    ThrowType(env, "transport: writev(slot, Uint8Array[], count)");
    return env.Undefined();
  }
  napi_value array = info[1];
  const uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  uint32_t length;
  napi_get_array_length(env, array, &length);
  if (n == 0 || n > length) {
    ThrowRange(env, "transport: writev count out of range");
    return env.Undefined();
  }
  std::vector<uv_buf_t> bufs(n);
  std::vector<napi_value> values(n);
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_get_element(env, array, i, &values[i]);
    if (!ReadView(env, values[i], &bufs[i])) {
      ThrowType(env, "transport: writev(slot, Uint8Array[], count)");
      return env.Undefined();
    }
    total += bufs[i].len;
  }
  return Napi::Number::New(env, static_cast<double>(WriteBufs(env, t, c, bufs.data(), values.data(), n, total)));
}

// writeBatch(plan: Float64Array, sockets, buffers: Uint8Array[], nBuffers, results: Float64Array):
// the write phase of one turn in one call. For each of `sockets` sockets the plan holds
// [slot, count, then count × (buffer index, offset, length)]: buffers[index][offset, offset +
// length) in order, written as writeSlice()/writev() would (results[i] = bytes the kernel took, or a
// negative uv error; UV_EPIPE for a slot whose handle is already closed). The whole plan is checked
// before the first write, so a bad plan throws having written nothing.
Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = Get(info);
  if (t == nullptr) return env.Undefined();
  const char* usage = "transport: writeBatch(plan: Float64Array, sockets, buffers: Uint8Array[], nBuffers, results: Float64Array)";
  if (!info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsArray() || !info[3].IsNumber() || !info[4].IsTypedArray()) {
    ThrowType(env, usage);
    return env.Undefined();
  }
  Napi::TypedArray plan_typed = info[0].As<Napi::TypedArray>();
  Napi::TypedArray results_typed = info[4].As<Napi::TypedArray>();
  if (plan_typed.TypedArrayType() != napi_float64_array || results_typed.TypedArrayType() != napi_float64_array) {
    ThrowType(env, usage);
    return env.Undefined();
  }
  const double* plan = plan_typed.As<Napi::Float64Array>().Data();
  const size_t plan_length = plan_typed.ElementLength();
  double* results = results_typed.As<Napi::Float64Array>().Data();
  const uint32_t sockets = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t n_buffers = info[3].As<Napi::Number>().Uint32Value();
  napi_value array = info[2];
  uint32_t array_length;
  napi_get_array_length(env, array, &array_length);
  if (sockets > results_typed.ElementLength() || n_buffers > array_length) {
    ThrowRange(env, "transport: writeBatch counts out of range");
    return env.Undefined();
  }
  t->batch_bases.resize(n_buffers);
  t->batch_values.resize(n_buffers);
  for (uint32_t i = 0; i < n_buffers; i++) {
    napi_get_element(env, array, i, &t->batch_values[i]);
    if (!ReadView(env, t->batch_values[i], &t->batch_bases[i])) {
      ThrowType(env, usage);
      return env.Undefined();
    }
  }
  // Check every record first.
  size_t at = 0;
  size_t widest = 0;
  for (uint32_t i = 0; i < sockets; i++) {
    if (at + 2 > plan_length) {
      ThrowRange(env, "transport: writeBatch plan too short");
      return env.Undefined();
    }
    const double slot = plan[at];
    const double count = plan[at + 1];
    if (!(slot >= 0) || slot >= static_cast<double>(t->slot_count) || !(count >= 1) || count > static_cast<double>(plan_length)) {
      ThrowRange(env, "transport: writeBatch slot or count out of range");
      return env.Undefined();
    }
    const size_t n = static_cast<size_t>(count);
    at += 2;
    if (at + n * 3 > plan_length) {
      ThrowRange(env, "transport: writeBatch plan too short");
      return env.Undefined();
    }
    for (size_t j = 0; j < n; j++, at += 3) {
      const double b = plan[at];
      const double offset = plan[at + 1];
      const double length = plan[at + 2];
      if (!(b >= 0) || b >= static_cast<double>(n_buffers) || !(offset >= 0) || !(length >= 0) ||
          offset + length > static_cast<double>(t->batch_bases[static_cast<size_t>(b)].len)) {
        ThrowRange(env, "transport: writeBatch range outside its buffer");
        return env.Undefined();
      }
    }
    if (n > widest) widest = n;
  }
  if (t->batch_iov.size() < widest) {
    t->batch_iov.resize(widest);
    t->batch_iov_values.resize(widest);
  }
  at = 0;
  for (uint32_t i = 0; i < sockets; i++) {
    const size_t slot = static_cast<size_t>(plan[at]);
    const size_t n = static_cast<size_t>(plan[at + 1]);
    at += 2;
    size_t total = 0;
    for (size_t j = 0; j < n; j++, at += 3) {
      const size_t b = static_cast<size_t>(plan[at]);
      const size_t length = static_cast<size_t>(plan[at + 2]);
      t->batch_iov[j] = uv_buf_init(t->batch_bases[b].base + static_cast<size_t>(plan[at + 1]), static_cast<unsigned int>(length));
      t->batch_iov_values[j] = t->batch_values[b];
      total += length;
    }
    Conn* c = t->At(static_cast<int32_t>(slot));
    results[i] = (c->flags & kLive) == 0 ? static_cast<double>(UV_EPIPE) : static_cast<double>(WriteBufs(env, t, c, t->batch_iov.data(), t->batch_iov_values.data(), n, total));
  }
  return env.Undefined();
}

// shutdown(slot): FIN after every queued write; the handle closes once the peer's FIN came too.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Transport* t;
  Conn* c = GetConn(info, &t);
  if (c == nullptr) return info.Env().Undefined();
  if ((c->flags & (kShutdownSent | kClosing)) != 0) return info.Env().Undefined();
  c->flags |= kShutdownSent;
  uv_shutdown_t* req = new uv_shutdown_t();
  const int r = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&c->tcp), OnShutdown);
  if (r != 0) {
    delete req;
    Push(t, kEventError, c->slot, r, kSysShutdown);
  }
  return info.Env().Undefined();
}

// close(slot): closes at once (queued writes are cancelled); CLOSE follows.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Transport* t;
  Conn* c = GetConn(info, &t);
  if (c == nullptr) return info.Env().Undefined();
  CloseConn(c);
  return info.Env().Undefined();
}

// peerAddress(slot): the peer's IP address as text ("127.0.0.1", "::1", "::ffff:127.0.0.1"), or
// undefined when the handle is closed or getpeername(2) fails (the peer is gone). Asked rarely (a
// handshake, an admin request), so it is not kept per connection.
Napi::Value PeerAddress(const Napi::CallbackInfo& info) {
  Transport* t;
  Conn* c = GetConn(info, &t);
  Napi::Env env = info.Env();
  if (c == nullptr) return env.Undefined();
  struct sockaddr_storage address;
  int length = sizeof(address);
  if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<struct sockaddr*>(&address), &length) != 0) return env.Undefined();
  char name[64] = {0};
  int r;
  if (address.ss_family == AF_INET6) r = uv_ip6_name(reinterpret_cast<const struct sockaddr_in6*>(&address), name, sizeof(name));
  else if (address.ss_family == AF_INET) r = uv_ip4_name(reinterpret_cast<const struct sockaddr_in*>(&address), name, sizeof(name));
  else return env.Undefined();
  if (r != 0) return env.Undefined();
  return Napi::String::New(env, name);
}

// writeQueueSize(slot): bytes of queued writes not yet taken by the kernel (libuv's write queue
// size, which shrinks with every partial write), 0 when the handle is closed. Asked rarely (an idle
// deadline over a long response), so it is not pushed as an event.
Napi::Value WriteQueueSize(const Napi::CallbackInfo& info) {
  Transport* t;
  Conn* c = GetConn(info, &t);
  Napi::Env env = info.Env();
  if (c == nullptr) return Napi::Number::New(env, 0);
  const size_t n = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c->tcp));
  return Napi::Number::New(env, static_cast<double>(n));
}

// Counters for tests and metrics: [open connections, slots allocated].
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = env.GetInstanceData<Transport>();
  Napi::Object o = Napi::Object::New(env);
  o.Set("open", Napi::Number::New(env, t->open));
  o.Set("slots", Napi::Number::New(env, static_cast<double>(t->slot_count)));
  o.Set("connSize", Napi::Number::New(env, static_cast<double>(sizeof(Conn))));
  return o;
}

// Env teardown (process exit or a worker thread ending) is asynchronous: every
// handle is closed, and the env (and the addon's code, which the close callbacks
// live in) is kept until the last close callback ran. An instance-data
// finalizer would be too early: the loop runs close callbacks after it, by
// which time a worker may have unloaded this library.
void OnLoopHandleClosed(uv_handle_t* h) { TeardownStep(static_cast<Transport*>(h->data)); }

void TeardownStep(Transport* t) {
  if (--t->teardown_pending != 0) return;
  napi_remove_async_cleanup_hook(t->cleanup);
  delete t;
}

void Teardown(napi_async_cleanup_hook_handle handle, void* arg) {
  Transport* t = static_cast<Transport*>(arg);
  t->cleanup = handle;
  t->tearing_down = true;
  t->teardown_pending = 2;  // check + idle
  for (uint32_t slot = 0; slot < t->slot_count; slot++) {
    Conn* c = t->At(static_cast<int32_t>(slot));
    if ((c->flags & (kLive | kClosing)) == 0) continue;  // already closed
    t->teardown_pending++;  // its close callback will run (closing already, or now)
    CloseConn(c);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&t->check), OnLoopHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&t->idle), OnLoopHandleClosed);
}

// The Transport's lifetime belongs to Teardown, not to the instance data.
void KeepInstanceData(Napi::Env /*env*/, Transport* /*t*/) {}

}  // namespace

void InitTransport(Napi::Env env, Napi::Object exports) {
  Transport* t = new Transport();
  t->env = env;
  napi_get_uv_event_loop(env, &t->loop);
  uv_check_init(t->loop, &t->check);
  uv_idle_init(t->loop, &t->idle);
  t->check.data = t;
  t->idle.data = t;
  // Both stay ref'd: they are active only while events wait for delivery, and those (the last
  // CLOSE of a shutdown, say) must keep the loop alive until JS has seen them.
  env.SetInstanceData<Transport, KeepInstanceData>(t);
  napi_add_async_cleanup_hook(env, Teardown, t, nullptr);
  Napi::Object o = Napi::Object::New(env);
  o.Set("init", Napi::Function::New(env, Init, "init"));
  o.Set("adopt", Napi::Function::New(env, Adopt, "adopt"));
  o.Set("readStart", Napi::Function::New(env, ReadStart, "readStart"));
  o.Set("readStop", Napi::Function::New(env, ReadStop, "readStop"));
  o.Set("writeSlice", Napi::Function::New(env, WriteSlice, "writeSlice"));
  o.Set("writev", Napi::Function::New(env, Writev, "writev"));
  o.Set("writeBatch", Napi::Function::New(env, WriteBatch, "writeBatch"));
  o.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  o.Set("close", Napi::Function::New(env, Close, "close"));
  o.Set("stats", Napi::Function::New(env, Stats, "stats"));
  o.Set("peerAddress", Napi::Function::New(env, PeerAddress, "peerAddress"));
  o.Set("writeQueueSize", Napi::Function::New(env, WriteQueueSize, "writeQueueSize"));
  o.Set("EVENT_DATA", Napi::Number::New(env, kEventData));
  o.Set("EVENT_EOF", Napi::Number::New(env, kEventEof));
  o.Set("EVENT_ERROR", Napi::Number::New(env, kEventError));
  o.Set("EVENT_WRITE_DONE", Napi::Number::New(env, kEventWriteDone));
  o.Set("EVENT_CLOSE", Napi::Number::New(env, kEventClose));
  o.Set("SYSCALL_READ", Napi::Number::New(env, kSysRead));
  o.Set("SYSCALL_WRITE", Napi::Number::New(env, kSysWrite));
  o.Set("SYSCALL_SHUTDOWN", Napi::Number::New(env, kSysShutdown));
  o.Set("EVENT_INTS", Napi::Number::New(env, kEventInts));
  // libuv is outside N-API's ABI promise: JS refuses the transport if the running Node's libuv has
  // another major version (struct layouts) than the headers this file was compiled with.
  o.Set("LIBUV_COMPILED", Napi::Number::New(env, UV_VERSION_HEX));
  o.Set("LIBUV_RUNTIME", Napi::Number::New(env, uv_version()));
  exports.Set("transport", o);
}

}  // namespace slabcast
