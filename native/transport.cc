// transport addon: TCP connections owned by C++ through the transport's own epoll instance, not by
// net.Socket objects (the java-nio-server "selector" side of the core).
//
// Why: a net.Socket with its TCPWrap, stream states and EventEmitter costs about 2 KB of memory per
// connection and a JS call (with a microtask checkpoint) per read and per write. Here a connection
// is a 16-byte Conn (its descriptor, a few flags, a write queue pointer that is null unless writes
// wait), in blocks indexed by slot number (by which alone JS knows it). One epoll descriptor per
// env holds every connection; libuv watches that descriptor with a single uv_poll_t, and I/O
// crosses into JS in batches:
//
//   poll phase   the epoll descriptor is readable: its callback drains epoll_wait(…, 0) into a
//                fixed event buffer; readable sockets recv(2) into one shared arena Buffer and
//                append events to a shared Int32Array, writable ones flush their queues (no JS
//                runs, nothing is allocated per read);
//   check/idle   one JS call `onEvents(count)` per loop iteration delivers them all (the
//                processor's "select" result); the arena is then reused.
//
// Interest is level-triggered: EPOLLIN while JS reads (readStart until readStop, EOF or a read
// error), EPOLLOUT while writes are queued. A connection that waits for neither is out of the epoll
// set, so a paused socket whose peer hangs up wakes nobody. The poll handle keeps the loop alive only
// while some connection is in the set, as reading libuv streams would.
//
// Writes come from JS as one send(2)/sendmsg(2) per socket (no request object, no callback when the
// kernel takes everything: the common case; not write(2), whose file layer costs every call more
// than the socket layer does). What the kernel does not take is queued per connection, the JS
// buffers referenced until a WRITE_DONE event (one per write call that queued something, in order);
// nothing leaves ahead of queued bytes. JS may write bytes of the arena itself during a delivery (an
// echo sends the received payload where it was read): what of them is not taken at once is copied,
// never queued by reference.
//
// Listeners: listen(fd) puts a duplicate of a bound, listening socket into the same epoll set (the
// caller closes its own descriptor); when it is readable, up to kAcceptsPerWake connections are
// accept4()ed straight into slots and reported as ACCEPT events, which JS admits or closes. They
// inherit TCP_NODELAY from the listener. With the descriptor table full, a connection is shed the
// way libuv sheds it (a reserved descriptor is freed for the accept and the close) and reported as
// ACCEPT_ERROR.
//
// close() closes the descriptor at once. Events that arise while JS is inside onEvents (a CLOSE, a
// failed shutdown) wait in `deferred` for the next delivery: JS is reading the array then, and its
// count is reset after the call. A slot is handed out again only after JS has seen its CLOSE.
//
// The JS caller (src/core/native-transport.ts) validates and owns the state machine; this layer
// still checks slots so a stale slot throws, not crashes. Every function runs on the JS thread of the
// env that loaded the addon. Linux only (epoll): elsewhere the addon exports no `transport` and JS
// keeps sockets on net.Socket.
#include <napi.h>
#include <uv.h>

#include "transport.h"

#ifdef __linux__

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "errno.h"
#include "write-queue.h"

namespace slabcast {
namespace {

// Event kinds (4 int32 each: kind, slot, a, b). Exported to JS by name.
enum EventKind : int32_t {
  kEventData = 1,       // a = arena offset, b = length
  kEventEof = 2,        // the peer sent FIN
  kEventError = 3,      // a = negative errno, b = syscall (kSys*)
  kEventWriteDone = 4,  // a = status (0 or negative errno): the oldest queued write left
  kEventClose = 5,      // the descriptor is closed; the slot is reused after this batch
  kEventAccept = 6,     // a listener accepted a connection into `slot`: a = its descriptor, b = listener
  kEventAcceptError = 7,  // slot -1, a = negative errno, b = listener: a connection was shed (see Accept)
};
enum Syscall : int32_t { kSysRead = 1, kSysWrite = 2, kSysShutdown = 3 };

constexpr int kEventInts = 4;
// Reads stop (retried next iteration: epoll is level-triggered) when fewer than this many event
// slots or arena bytes are left, so a burst never overruns the batch; control events always find
// room (overflow vector).
constexpr uint32_t kReserveEvents = 64;
constexpr size_t kMinReadBytes = 4096;
constexpr size_t kMaxReadBytes = 64 * 1024;
// Past this many arena bytes the batch is delivered at once, from the epoll callback, instead of
// at the end of the poll phase: the arena's hot start stays in the CPU cache while large messages
// stream in (a 1 MiB walk through cold memory cost ~15% on 16 KiB echoes).
constexpr size_t kDeliverBytes = 128 * 1024;
// epoll_wait() results taken per call, and calls per wake-up (what is left is level-triggered: the
// epoll descriptor stays readable and the next iteration goes on).
constexpr int kReadyEvents = 1024;
constexpr int kMaxRounds = 16;
// recv(2) calls per connection per wake-up while each fills its buffer (libuv's stream limit).
constexpr int kReadsPerWake = 32;
// accept4(2) calls per listener per wake-up; the rest of the backlog waits for the next iteration.
constexpr int kAcceptsPerWake = 128;
// The epoll data of a listener: this bit and its id (a connection's is its slot, below 2^31).
constexpr uint64_t kListenerTag = uint64_t{1} << 32;

#ifdef IOV_MAX
constexpr size_t kMaxIov = IOV_MAX;
#else
constexpr size_t kMaxIov = 1024;
#endif
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;

enum ConnFlags : uint8_t {
  kReading = 1,       // JS reads (readStart until readStop, EOF or a read error)
  kEof = 2,           // the peer's FIN came
  kShutdownSent = 4,  // shutdown() was called: FIN once the queue is empty
  kShutdownDone = 8,  // FIN is sent
  kLive = 16,         // the slot holds an open descriptor (adopt() until close)
  kWatchIn = 32,      // in the epoll set with EPOLLIN
  kWatchOut = 64,     // in the epoll set with EPOLLOUT
};

// One connection. The slot is its index (Transport::At) and the epoll data of its registration.
struct Conn {
  int32_t fd;
  uint8_t flags;
  WriteQueue* queue;  // null unless writes wait for EPOLLOUT
};
constexpr size_t kBlockShift = 10;  // 1024 Conns (16 KiB) per block
constexpr size_t kBlockConns = size_t{1} << kBlockShift;

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
  std::vector<int32_t> deferred;  // events recorded while JS was inside onEvents
  std::vector<std::unique_ptr<Conn[]>> blocks;  // slot s is blocks[s >> kBlockShift][s & (kBlockConns - 1)]
  uint32_t slot_count = 0;                      // slots handed out at least once
  std::vector<int32_t> free_slots;
  std::vector<int32_t> closed_slots;  // freed after JS has seen their CLOSE
  int ep = -1;                        // the epoll descriptor (from init())
  std::vector<int> listeners;         // listen() descriptors by id; -1 once unlisten()ed
  int reserve_fd = -1;                // held while listening: freed to shed a connection on EMFILE
  uv_poll_t poll;                     // libuv's watch on `ep`
  uint32_t watched = 0;               // connections in the epoll set
  uv_check_t check;
  uv_idle_t idle;
  bool armed = false;
  bool delivering = false;
  bool initialized = false;
  bool reads_blocked = false;  // this wake-up: the arena or the event array is short
  bool tearing_down = false;    // env teardown: no more events, no more napi calls
  uint32_t open = 0;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  uint32_t teardown_pending = 0;  // loop handles whose close callback teardown still waits for

  Conn* At(int32_t slot) {
    const size_t s = static_cast<size_t>(slot);
    return &blocks[s >> kBlockShift][s & (kBlockConns - 1)];
  }

  epoll_event ready[kReadyEvents];
  // Scratch reused from call to call: writeBatch()'s buffers and one socket's iovecs; a flush's iovecs.
  std::vector<iovec> batch_bases;
  std::vector<napi_value> batch_values;
  std::vector<iovec> batch_iov;
  std::vector<napi_value> batch_iov_values;
  std::vector<iovec> flush_iov;
};

void Deliver(Transport* t);

void OnCheck(uv_check_t* handle) { Deliver(static_cast<Transport*>(handle->data)); }
void OnIdle(uv_idle_t* handle) { Deliver(static_cast<Transport*>(handle->data)); }

// Asks for a delivery in this iteration's check phase, or (events recorded after it, e.g. during a
// delivery) the next iteration's idle phase; an active idle handle also keeps the poll phase from
// blocking.
void Arm(Transport* t) {
  if (t->armed) return;
  t->armed = true;
  uv_check_start(&t->check, OnCheck);
  uv_idle_start(&t->idle, OnIdle);
}

// Into the event array (or the overflow when it is full). A CLOSE's slot is freed after the
// delivery that carries it.
void Append(Transport* t, int32_t kind, int32_t slot, int32_t a, int32_t b) {
  if (kind == kEventClose) t->closed_slots.push_back(slot);
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
}

// Events recorded during the last JS call go first: they are older than anything recorded since.
void TakeDeferred(Transport* t) {
  for (size_t i = 0; i < t->deferred.size(); i += kEventInts) {
    const int32_t* e = t->deferred.data() + i;
    Append(t, e[0], e[1], e[2], e[3]);
  }
  t->deferred.clear();
}

void Push(Transport* t, int32_t kind, int32_t slot, int32_t a, int32_t b) {
  if (t->tearing_down) return;  // the loop handles are closing and nobody will read the events
  if (t->delivering) {
    // JS is reading the array: the next delivery carries it (re-armed when the call returns).
    t->deferred.insert(t->deferred.end(), {kind, slot, a, b});
    return;
  }
  if (!t->deferred.empty()) TakeDeferred(t);
  Append(t, kind, slot, a, b);
  Arm(t);
}

void FreeClosedSlots(Transport* t) {
  for (int32_t slot : t->closed_slots) t->free_slots.push_back(slot);
  t->closed_slots.clear();
}

// One JS call with every event recorded since the last one. JS must copy what it keeps of the
// arena: it is reused as soon as the call returns.
void Deliver(Transport* t) {
  if (t->delivering) return;
  if (t->armed) {
    t->armed = false;
    uv_check_stop(&t->check);
    uv_idle_stop(&t->idle);
  }
  TakeDeferred(t);
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
  // Only now has JS seen every CLOSE that was in the array: their slots may be handed out again.
  FreeClosedSlots(t);
  napi_close_handle_scope(env, scope);
  t->delivering = false;
  if (!t->deferred.empty() && !t->tearing_down) Arm(t);
}

// Brings the connection's epoll registration in line with what it waits for: EPOLLIN while
// reading, EPOLLOUT while writes are queued, out of the set when neither. 0 or a negative errno.
int Watch(Transport* t, Conn* c, int32_t slot) {
  const uint8_t want = static_cast<uint8_t>(((c->flags & kReading) != 0 ? kWatchIn : 0) | (c->queue != nullptr ? kWatchOut : 0));
  const uint8_t have = static_cast<uint8_t>(c->flags & (kWatchIn | kWatchOut));
  if (want == have) return 0;
  const int op = have == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  epoll_event ev;
  ev.events = ((want & kWatchIn) != 0 ? EPOLLIN : 0u) | ((want & kWatchOut) != 0 ? EPOLLOUT : 0u);
  ev.data.u64 = static_cast<uint64_t>(slot);
  if (epoll_ctl(t->ep, op, c->fd, &ev) != 0) return -errno;
  c->flags = static_cast<uint8_t>((c->flags & ~(kWatchIn | kWatchOut)) | want);
  if (have == 0) {
    if (t->watched++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&t->poll));
  } else if (want == 0) {
    if (--t->watched == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  }
  return 0;
}

// Releases a queued write's references (during env teardown the env releases them itself).
void DeleteWrite(Transport* t, QueuedWrite* w) {
  if (!t->tearing_down) {
    for (napi_ref ref : w->refs) napi_delete_reference(t->env, ref);
  }
  delete w;
}

// Drops every queued write without an event (close: JS releases everything on CLOSE).
void DropQueue(Transport* t, Conn* c) {
  WriteQueue* q = c->queue;
  if (q == nullptr) return;
  while (QueuedWrite* w = q->Pop()) DeleteWrite(t, w);
  delete q;
  c->queue = nullptr;
}

// Closes the descriptor now; CLOSE follows (with the next delivery after the current JS call).
void CloseConn(Transport* t, Conn* c, int32_t slot) {
  if ((c->flags & kLive) == 0) return;
  if ((c->flags & (kWatchIn | kWatchOut)) != 0) {
    // Explicitly: the registration belongs to the open file description, which a forked child
    // may share, not to the descriptor.
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, nullptr);
    if (--t->watched == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  }
  close(c->fd);
  DropQueue(t, c);
  c->fd = -1;
  c->flags = 0;
  t->open--;
  Push(t, kEventClose, slot, 0, 0);
}

// FIN now (the queue is empty); the connection closes if the peer's FIN came already.
void SendShutdown(Transport* t, Conn* c, int32_t slot) {
  if (shutdown(c->fd, SHUT_WR) != 0) {
    Push(t, kEventError, slot, -errno, kSysShutdown);
    return;
  }
  c->flags |= kShutdownDone;
  if ((c->flags & kEof) != 0) CloseConn(t, c, slot);
}

// send(2) for one buffer, sendmsg(2) for several (at most IOV_MAX; the rest is left for the queue).
// Bytes taken, -EAGAIN when none, or a negative errno.
int64_t SendNow(int fd, iovec* bufs, size_t n) {
  ssize_t r;
  do {
    if (n == 1) {
      r = send(fd, bufs[0].iov_base, bufs[0].iov_len, kSendFlags);
    } else {
      struct msghdr msg;
      std::memset(&msg, 0, sizeof(msg));
      msg.msg_iov = bufs;
      msg.msg_iovlen = n < kMaxIov ? n : kMaxIov;
      r = sendmsg(fd, &msg, kSendFlags);
    }
  } while (r < 0 && errno == EINTR);
  if (r >= 0) return static_cast<int64_t>(r);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return -EAGAIN;
  return -errno;
}

// `sent` bytes of the queue left: every write they complete gets its WRITE_DONE, in order.
void Consume(Transport* t, Conn* c, int32_t slot, size_t sent) {
  WriteQueue* q = c->queue;
  q->Consume(sent, [t, slot](QueuedWrite* w) {
    DeleteWrite(t, w);
    Push(t, kEventWriteDone, slot, 0, 0);
  });
  if (q->empty()) {
    delete q;
    c->queue = nullptr;
  }
}

// Ends every queued write with `status` (one WRITE_DONE each, in order): after a send error nothing
// of the queue can leave.
void FailQueue(Transport* t, Conn* c, int32_t slot, int status) {
  WriteQueue* q = c->queue;
  while (QueuedWrite* w = q->Pop()) {
    DeleteWrite(t, w);
    Push(t, kEventWriteDone, slot, status, 0);
  }
  delete q;
  c->queue = nullptr;
  Watch(t, c, slot);
}

// EPOLLOUT: sends what the queue holds, as much as the kernel takes.
void Flush(Transport* t, Conn* c, int32_t slot) {
  for (;;) {
    size_t gathered;
    const size_t n = c->queue->Gather(t->flush_iov.data(), kMaxIov, &gathered);
    const int64_t r = SendNow(c->fd, t->flush_iov.data(), n);
    if (r == -EAGAIN) return;
    if (r < 0) {
      FailQueue(t, c, slot, static_cast<int>(r));
      return;
    }
    Consume(t, c, slot, static_cast<size_t>(r));
    if (c->queue == nullptr) {
      Watch(t, c, slot);
      if ((c->flags & (kShutdownSent | kShutdownDone)) == kShutdownSent) SendShutdown(t, c, slot);
      return;
    }
    if (static_cast<size_t>(r) < gathered) return;  // the socket buffer is full: EPOLLOUT comes back
  }
}

// EPOLLIN (or a hang-up or error, which the recv reports): reads into the arena while it has room.
void Read(Transport* t, Conn* c, int32_t slot) {
  for (int k = 0; k < kReadsPerWake; k++) {
    const size_t left = t->arena_size - t->arena_used;
    if (left < kMinReadBytes || t->event_count + kReserveEvents > t->event_capacity) {
      t->reads_blocked = true;  // the bytes stay in the kernel until the next iteration
      return;
    }
    const size_t want = left < kMaxReadBytes ? left : kMaxReadBytes;
    const size_t offset = t->arena_used;
    const ssize_t r = recv(c->fd, t->arena + offset, want, 0);
    if (r > 0) {
      t->arena_used = offset + static_cast<size_t>(r);
      Push(t, kEventData, slot, static_cast<int32_t>(offset), static_cast<int32_t>(r));
      if (static_cast<size_t>(r) < want) {
        if (t->arena_used >= kDeliverBytes) Deliver(t);
        return;
      }
      if (t->arena_used >= kDeliverBytes) {
        Deliver(t);
        // JS may have closed this connection or stopped reading it.
        if ((c->flags & (kLive | kReading)) != (kLive | kReading)) return;
      }
      continue;
    }
    if (r == 0) {
      c->flags = static_cast<uint8_t>((c->flags | kEof) & ~kReading);
      Watch(t, c, slot);
      Push(t, kEventEof, slot, 0, 0);
      if ((c->flags & kShutdownDone) != 0) CloseConn(t, c, slot);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    const int err = errno;
    c->flags = static_cast<uint8_t>(c->flags & ~kReading);
    Watch(t, c, slot);
    Push(t, kEventError, slot, -err, kSysRead);
    return;
  }
}

// One ready connection. JS may have run since epoll_wait (a delivery past kDeliverBytes) and
// closed, paused or even replaced the connection in this slot: every action depends on the state
// now, and a stale readiness costs one recv/send that finds nothing (EAGAIN).
void Accept(Transport* t, int32_t id);

void OnReady(const epoll_event& e, Transport* t) {
  if ((e.data.u64 & kListenerTag) != 0) {
    Accept(t, static_cast<int32_t>(e.data.u64 & ~kListenerTag));
    return;
  }
  const int32_t slot = static_cast<int32_t>(e.data.u64);
  Conn* c = t->At(slot);
  const bool failed = (e.events & (EPOLLHUP | EPOLLERR)) != 0;
  if ((c->flags & kReading) != 0 && ((e.events & EPOLLIN) != 0 || failed)) Read(t, c, slot);
  if (c->queue != nullptr && ((e.events & EPOLLOUT) != 0 || failed)) Flush(t, c, slot);
}

// The epoll descriptor is readable: drains it without blocking into the fixed event buffer.
void OnEpoll(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  Transport* t = static_cast<Transport*>(handle->data);
  for (int round = 0; round < kMaxRounds; round++) {
    const int n = epoll_wait(t->ep, t->ready, kReadyEvents, 0);
    if (n <= 0) return;  // nothing (or EINTR: the descriptor stays readable)
    t->reads_blocked = false;
    for (int i = 0; i < n; i++) OnReady(t->ready[i], t);
    // Blocked reads would be reported again at once: they wait for the next iteration.
    if (t->reads_blocked || n < kReadyEvents) return;
  }
}

Transport* Get(const Napi::CallbackInfo& info) {
  Transport* t = info.Env().GetInstanceData<Transport>();
  if (t == nullptr || !t->initialized) {
    Napi::Error::New(info.Env(), "transport: init() was not called").ThrowAsJavaScriptException();
    return nullptr;
  }
  return t;
}

// The open connection in slot info[0] (its number in *slot_out). nullptr when the slot's
// descriptor is already closed (its CLOSE event not yet seen by JS: the call is a no-op), or with an
// exception pending when the slot was never handed out.
Conn* GetConn(const Napi::CallbackInfo& info, Transport** out, int32_t* slot_out) {
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
  *slot_out = slot;
  Conn* c = t->At(slot);
  return (c->flags & kLive) != 0 ? c : nullptr;
}

// init(arena: Buffer, events: Int32Array, onEvents(count)): once per env. Opens the epoll
// descriptor and starts libuv's watch on it (unreferenced until a connection is in the set).
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
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    ErrnoError(env, errno, "epoll_create1").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int r = uv_poll_init(t->loop, &t->poll, ep);
  if (r == 0) {
    t->poll.data = t;
    r = uv_poll_start(&t->poll, UV_READABLE, OnEpoll);
    if (r != 0) uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), nullptr);
  }
  if (r != 0) {
    close(ep);
    ErrnoError(env, -r, "uv_poll_start").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  t->ep = ep;
  Napi::Int32Array events = typed.As<Napi::Int32Array>();
  t->arena = arena.Data();
  t->arena_size = arena.Length();
  t->events = events.Data();
  t->event_capacity = static_cast<uint32_t>(events.ElementLength() / kEventInts);
  t->flush_iov.resize(kMaxIov);
  napi_create_reference(env, arena, 1, &t->arena_ref);
  napi_create_reference(env, events, 1, &t->events_ref);
  napi_create_reference(env, info[2], 1, &t->callback_ref);
  napi_async_init(env, nullptr, Napi::String::New(env, "slabcast.transport"), &t->async_context);
  t->initialized = true;
  return env.Undefined();
}

// adopt(fd[, limit]): takes over a connected TCP socket by duplicating `fd` (the caller then closes
// its own descriptor): non-blocking, TCP_NODELAY, out of the epoll set until readStart(). Returns
// the slot. A duplicate numbered at or past `limit` (the caller's descriptor budget) is closed again
// and reported as EMFILE, like a full table: the connection is refused.
// A slot for the connected, non-blocking descriptor `fd`, out of the epoll set until readStart().
int32_t NewConn(Transport* t, int fd) {
  int32_t slot;
  if (!t->free_slots.empty()) {
    slot = t->free_slots.back();
    t->free_slots.pop_back();
  } else {
    slot = static_cast<int32_t>(t->slot_count++);
    if ((static_cast<size_t>(slot) >> kBlockShift) == t->blocks.size()) t->blocks.emplace_back(new Conn[kBlockConns]());
  }
  Conn* c = t->At(slot);
  c->fd = fd;
  c->flags = kLive;
  c->queue = nullptr;
  t->open++;
  return slot;
}

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
  const int fl = fcntl(dup_fd, F_GETFL);
  if (fl < 0 || fcntl(dup_fd, F_SETFL, fl | O_NONBLOCK) != 0) {
    const int err = errno;
    close(dup_fd);
    ErrnoError(env, err, "fcntl").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int one = 1;
  if (setsockopt(dup_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
    const int err = errno;
    close(dup_fd);
    ErrnoError(env, err, "setsockopt").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, NewConn(t, dup_fd));
}

// Takes what listener `id` has in its backlog, up to kAcceptsPerWake: each connection gets a slot
// (non-blocking, TCP_NODELAY inherited from the listener) and an ACCEPT event; JS admits it or
// closes it. With the descriptor table full (EMFILE/ENFILE) the connection is shed the way libuv
// sheds it: the reserve descriptor is freed, the connection accepted and closed at once, the
// reserve taken back; one ACCEPT_ERROR tells JS. Any other error is reported and the listener is
// tried again next iteration (it stays readable).
void Accept(Transport* t, int32_t id) {
  for (int i = 0; i < kAcceptsPerWake; i++) {
    const int listener = t->listeners[static_cast<size_t>(id)];
    if (listener < 0) return;  // JS unlisten()ed during an early delivery
    const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      Push(t, kEventAccept, NewConn(t, fd), fd, id);
      continue;
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    Push(t, kEventAcceptError, -1, -err, id);
    if ((err != EMFILE && err != ENFILE) || t->reserve_fd < 0) return;
    close(t->reserve_fd);
    const int shed = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (shed >= 0) close(shed);
    t->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (shed < 0) return;
  }
}

// listen(fd) → id: accepts from the listening TCP socket `fd` from now on, through a duplicate in
// the epoll set (the caller then closes its own descriptor; the socket keeps listening). New
// connections arrive as ACCEPT events carrying `id`. Keeps the loop alive until unlisten(id).
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = Get(info);
  if (t == nullptr) return env.Undefined();
  if (!info[0].IsNumber()) {
    ThrowType(env, "transport: \"fd\" must be a number");
    return env.Undefined();
  }
  const int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "dup").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fl = fcntl(fd, F_GETFL);
  const int one = 1;
  const char* failed = nullptr;
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) failed = "fcntl";
  // Accepted sockets inherit it (Linux copies the listener's TCP options): no setsockopt per connection.
  else if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) failed = "setsockopt";
  else if (t->reserve_fd < 0 && (t->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) failed = "open";
  const int32_t id = static_cast<int32_t>(t->listeners.size());
  epoll_event ev;
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag | static_cast<uint64_t>(id);
  if (failed == nullptr && epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) != 0) failed = "epoll_ctl";
  if (failed != nullptr) {
    const int err = errno;
    close(fd);
    ErrnoError(env, err, failed).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  t->listeners.push_back(fd);
  if (t->watched++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&t->poll));
  return Napi::Number::New(env, id);
}

// unlisten(id): stops accepting and closes the listening socket (connections in its backlog are
// reset by the kernel). A second call is a no-op.
Napi::Value Unlisten(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = Get(info);
  if (t == nullptr) return env.Undefined();
  const double id = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(id >= 0) || id >= static_cast<double>(t->listeners.size())) {
    ThrowRange(env, "transport: no listener with this id");
    return env.Undefined();
  }
  int& fd = t->listeners[static_cast<size_t>(id)];
  if (fd < 0) return env.Undefined();
  epoll_ctl(t->ep, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  fd = -1;
  if (--t->watched == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  return env.Undefined();
}

Napi::Value ReadStart(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c == nullptr) return info.Env().Undefined();
  if ((c->flags & (kReading | kEof)) == 0) {
    c->flags |= kReading;
    const int r = Watch(t, c, slot);
    if (r != 0) {
      c->flags = static_cast<uint8_t>(c->flags & ~kReading);
      Push(t, kEventError, slot, r, kSysRead);
    }
  }
  return info.Env().Undefined();
}

Napi::Value ReadStop(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c == nullptr) return info.Env().Undefined();
  if ((c->flags & kReading) != 0) {
    c->flags = static_cast<uint8_t>(c->flags & ~kReading);
    Watch(t, c, slot);  // leaving the set or dropping EPOLLIN cannot fail for a registered descriptor
  }
  return info.Env().Undefined();
}

// Whether `buf` lies in the read arena, which is reused as soon as the delivery returns.
bool InArena(const Transport* t, const iovec& buf) {
  const uint8_t* p = static_cast<const uint8_t*>(buf.iov_base);
  return p >= t->arena && p < t->arena + t->arena_size;
}

// Queues bufs[skip bytes..] as one write (one WRITE_DONE once it has left), holding a reference to
// each JS value. Bytes in the read arena (JS writes received bytes in place during a delivery: an
// echo) are copied instead, the untaken part only: the next read overwrites the arena. The first
// queued write puts the connection in the epoll set for EPOLLOUT. 0 or a negative errno.
int QueueRest(Napi::Env env, Transport* t, Conn* c, int32_t slot, iovec* bufs, napi_value* values, size_t n, size_t skip) {
  size_t first = 0;
  while (first < n && skip >= bufs[first].iov_len) {
    skip -= bufs[first].iov_len;
    first++;
  }
  if (first == n) return 0;
  QueuedWrite* w = new QueuedWrite();
  w->pieces.assign(bufs + first, bufs + n);
  w->pieces[0].iov_base = static_cast<char*>(w->pieces[0].iov_base) + skip;
  w->pieces[0].iov_len -= skip;
  size_t arena_bytes = 0;
  for (const iovec& p : w->pieces) {
    if (InArena(t, p)) arena_bytes += p.iov_len;
  }
  if (arena_bytes > 0) w->copied.reset(new char[arena_bytes]);
  char* to = w->copied.get();
  napi_value last = nullptr;
  for (size_t i = 0; i < w->pieces.size(); i++) {
    iovec& p = w->pieces[i];
    if (InArena(t, p)) {
      std::memcpy(to, p.iov_base, p.iov_len);
      p.iov_base = to;
      to += p.iov_len;
      continue;
    }
    napi_value value = values[first + i];
    if (value == last) continue;  // pieces of one buffer (the write slab) need one reference
    last = value;
    napi_ref ref;
    napi_create_reference(env, value, 1, &ref);
    w->refs.push_back(ref);
  }
  if (c->queue != nullptr) {
    c->queue->Append(w);
    return 0;
  }
  c->queue = new WriteQueue(w);
  const int r = Watch(t, c, slot);
  if (r != 0) DropQueue(t, c);
  return r;
}

bool ReadView(Napi::Env env, napi_value value, iovec* out) {
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
  out->iov_base = data;
  out->iov_len = length;
  return true;
}

// Tries `bufs` at once unless writes are queued (nothing may leave ahead of them); queues the
// rest. Returns bytes the kernel took now (== total: done, no event; < total: one WRITE_DONE event
// follows), or a negative errno (nothing queued).
int64_t WriteBufs(Napi::Env env, Transport* t, Conn* c, int32_t slot, iovec* bufs, napi_value* values, size_t n, size_t total) {
  if ((c->flags & kShutdownSent) != 0) return -EPIPE;
  size_t written = 0;
  if (c->queue == nullptr) {
    const int64_t r = SendNow(c->fd, bufs, n);
    if (r >= 0) written = static_cast<size_t>(r);
    else if (r != -EAGAIN) return r;
  }
  if (written == total) return static_cast<int64_t>(written);
  const int q = QueueRest(env, t, c, slot, bufs, values, n, written);
  if (q != 0) return q;
  return static_cast<int64_t>(written);
}

// writeSlice(slot, buffer: Uint8Array, offset, length): writes buffer[offset, offset + length) (no
// view object per write) → bytes the kernel took now (all: done; fewer: the rest is queued, one
// WRITE_DONE follows), or a negative errno.
Napi::Value WriteSlice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c == nullptr) return env.IsExceptionPending() ? env.Undefined() : Napi::Number::New(env, -EPIPE);
  iovec buf;
  napi_value value = info[1];
  if (!ReadView(env, value, &buf) || !info[2].IsNumber() || !info[3].IsNumber()) {
    ThrowType(env, "transport: writeSlice(slot, Uint8Array, offset, length)");
    return env.Undefined();
  }
  const double offset = info[2].As<Napi::Number>().DoubleValue();
  const double length = info[3].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0) || !(length >= 0) || offset + length > static_cast<double>(buf.iov_len)) {
    ThrowRange(env, "transport: writeSlice range outside the buffer");
    return env.Undefined();
  }
  buf.iov_base = static_cast<char*>(buf.iov_base) + static_cast<size_t>(offset);
  buf.iov_len = static_cast<size_t>(length);
  return Napi::Number::New(env, static_cast<double>(WriteBufs(env, t, c, slot, &buf, &value, 1, buf.iov_len)));
}

// writev(slot, views: Uint8Array[], count) → as writeSlice().
Napi::Value Writev(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c == nullptr) return env.IsExceptionPending() ? env.Undefined() : Napi::Number::New(env, -EPIPE);
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
  std::vector<iovec> bufs(n);
  std::vector<napi_value> values(n);
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_get_element(env, array, i, &values[i]);
    if (!ReadView(env, values[i], &bufs[i])) {
      ThrowType(env, "transport: writev(slot, Uint8Array[], count)");
      return env.Undefined();
    }
    total += bufs[i].iov_len;
  }
  return Napi::Number::New(env, static_cast<double>(WriteBufs(env, t, c, slot, bufs.data(), values.data(), n, total)));
}

// writeBatch(plan: Float64Array, sockets, buffers: Uint8Array[], nBuffers, results: Float64Array):
// the write phase of one turn in one call. For each of `sockets` sockets the plan holds [slot,
// count, then count × (buffer index, offset, length)]: buffers[index][offset, offset + length) in
// order, written as writeSlice()/writev() would (results[i] = bytes the kernel took, or a negative
// errno; -EPIPE for a slot whose descriptor is already closed). The whole plan is checked before
// the first write, so a bad plan throws having written nothing.
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
          offset + length > static_cast<double>(t->batch_bases[static_cast<size_t>(b)].iov_len)) {
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
    const int32_t slot = static_cast<int32_t>(plan[at]);
    const size_t n = static_cast<size_t>(plan[at + 1]);
    at += 2;
    size_t total = 0;
    for (size_t j = 0; j < n; j++, at += 3) {
      const size_t b = static_cast<size_t>(plan[at]);
      const size_t length = static_cast<size_t>(plan[at + 2]);
      t->batch_iov[j].iov_base = static_cast<char*>(t->batch_bases[b].iov_base) + static_cast<size_t>(plan[at + 1]);
      t->batch_iov[j].iov_len = length;
      t->batch_iov_values[j] = t->batch_values[b];
      total += length;
    }
    Conn* c = t->At(slot);
    results[i] = (c->flags & kLive) == 0 ? static_cast<double>(-EPIPE) : static_cast<double>(WriteBufs(env, t, c, slot, t->batch_iov.data(), t->batch_iov_values.data(), n, total));
  }
  return env.Undefined();
}

// shutdown(slot): FIN after every queued write; the connection closes once the peer's FIN came too.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c == nullptr || (c->flags & kShutdownSent) != 0) return info.Env().Undefined();
  c->flags |= kShutdownSent;
  if (c->queue == nullptr) SendShutdown(t, c, slot);
  return info.Env().Undefined();
}

// close(slot): closes at once (queued writes are dropped, their references released, no
// WRITE_DONE); CLOSE follows with a later delivery.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c != nullptr) CloseConn(t, c, slot);
  return info.Env().Undefined();
}

// peerAddress(slot): the peer's IP address as text ("127.0.0.1", "::1", "::ffff:127.0.0.1"), or
// undefined when the connection is closed or getpeername(2) fails (the peer is gone). Asked rarely
// (a handshake, an admin request), so it is not kept per connection.
Napi::Value PeerAddress(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  Napi::Env env = info.Env();
  if (c == nullptr) return env.Undefined();
  struct sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (getpeername(c->fd, reinterpret_cast<struct sockaddr*>(&address), &length) != 0) return env.Undefined();
  char name[64] = {0};
  int r;
  if (address.ss_family == AF_INET6) r = uv_ip6_name(reinterpret_cast<const struct sockaddr_in6*>(&address), name, sizeof(name));
  else if (address.ss_family == AF_INET) r = uv_ip4_name(reinterpret_cast<const struct sockaddr_in*>(&address), name, sizeof(name));
  else return env.Undefined();
  if (r != 0) return env.Undefined();
  return Napi::String::New(env, name);
}

// writeQueueSize(slot): bytes of queued writes not yet taken by the kernel (shrinks with every
// partial write), 0 when the connection is closed. Asked rarely (an idle deadline over a long
// response), so it is not pushed as an event.
Napi::Value WriteQueueSize(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  Napi::Env env = info.Env();
  if (c == nullptr || c->queue == nullptr) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, static_cast<double>(c->queue->bytes()));
}

// Counters for tests and metrics: open connections, slots allocated, bytes per connection.
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = env.GetInstanceData<Transport>();
  Napi::Object o = Napi::Object::New(env);
  o.Set("open", Napi::Number::New(env, t->open));
  o.Set("slots", Napi::Number::New(env, static_cast<double>(t->slot_count)));
  o.Set("connSize", Napi::Number::New(env, static_cast<double>(sizeof(Conn))));
  return o;
}

// Env teardown (process exit or a worker thread ending) is asynchronous: every descriptor is closed
// at once, the loop handles are closed, and the env (and the addon's code, which the close callbacks
// live in) is kept until the last close callback ran. An instance-data finalizer would be too
// early: the loop runs close callbacks after it, by which time a worker may have unloaded this
// library.
void TeardownStep(Transport* t) {
  if (--t->teardown_pending != 0) return;
  if (t->ep >= 0) close(t->ep);
  napi_remove_async_cleanup_hook(t->cleanup);
  delete t;
}

void OnLoopHandleClosed(uv_handle_t* h) { TeardownStep(static_cast<Transport*>(h->data)); }

void Teardown(napi_async_cleanup_hook_handle handle, void* arg) {
  Transport* t = static_cast<Transport*>(arg);
  t->cleanup = handle;
  t->tearing_down = true;  // no events, no napi calls: the env releases its references itself
  for (uint32_t slot = 0; slot < t->slot_count; slot++) {
    Conn* c = t->At(static_cast<int32_t>(slot));
    if ((c->flags & kLive) == 0) continue;
    close(c->fd);
    DropQueue(t, c);
    c->fd = -1;
    c->flags = 0;
  }
  t->open = 0;
  for (int& fd : t->listeners) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (t->reserve_fd >= 0) close(t->reserve_fd);
  t->reserve_fd = -1;
  t->teardown_pending = 2;  // check + idle
  if (t->ep >= 0) {
    t->teardown_pending++;
    uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), OnLoopHandleClosed);
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
  o.Set("listen", Napi::Function::New(env, Listen, "listen"));
  o.Set("unlisten", Napi::Function::New(env, Unlisten, "unlisten"));
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
  o.Set("EVENT_ACCEPT", Napi::Number::New(env, kEventAccept));
  o.Set("EVENT_ACCEPT_ERROR", Napi::Number::New(env, kEventAcceptError));
  o.Set("SYSCALL_READ", Napi::Number::New(env, kSysRead));
  o.Set("SYSCALL_WRITE", Napi::Number::New(env, kSysWrite));
  o.Set("SYSCALL_SHUTDOWN", Napi::Number::New(env, kSysShutdown));
  o.Set("EVENT_INTS", Napi::Number::New(env, kEventInts));
  // libuv is outside N-API's ABI promise: JS refuses the transport if the running Node's libuv has
  // another major version (the uv_poll_t/uv_check_t/uv_idle_t layouts embedded in the Transport)
  // than the headers this file was compiled with.
  o.Set("LIBUV_COMPILED", Napi::Number::New(env, UV_VERSION_HEX));
  o.Set("LIBUV_RUNTIME", Napi::Number::New(env, uv_version()));
  exports.Set("transport", o);
}

}  // namespace slabcast

#else  // !__linux__

namespace slabcast {

// No epoll: the addon exports no `transport`, and JS keeps sockets on net.Socket.
void InitTransport(Napi::Env /*env*/, Napi::Object /*exports*/) {}

}  // namespace slabcast

#endif  // __linux__
