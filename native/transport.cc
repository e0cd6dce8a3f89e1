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
// Busy connections: every wake-up of the shared set costs a second epoll_wait (libuv's says the set
// is readable, the transport's says which sockets are), about one system call per request when a
// client sends one request at a time. A connection found readable in kHotWakeups wake-ups within one
// second of the loop's clock therefore leaves the set for a uv_poll_t of its own (libuv's epoll then
// names it directly), at most kMaxOwnPolls at a time; a 1 s timer, running only while such polls
// exist, puts the ones that have cooled back into the set. Idle connections never get one: they stay
// 16-byte Conns.
//
// Writes come from JS as one send/sendmsg per socket (no request object, no callback when the
// kernel takes everything: the common case; not write(2), whose file layer costs every call more
// than the socket layer does). writeBatch() hands a whole write phase's sends to the kernel in one
// io_uring submission where it may (io-ring.h), else one send(2)/sendmsg(2) each. What the kernel
// does not take is queued per connection, the JS buffers referenced until a WRITE_DONE event (one
// per write call that queued something, in order); nothing leaves ahead of queued bytes. JS may write bytes of the arena itself during a delivery (an
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
//
// Files: transport-state.h (constants, Conn, Transport), transport-events.cc (the event batch to
// JS), transport-poll.cc (the epoll side: reads, flushes, closes, accepts), transport-writes.cc
// (writes from JS), io-ring.* (the io_uring those writes are submitted through), and this file
// (the N-API surface and the env lifetime).
#include <napi.h>
#include <uv.h>

#include "transport.h"

#ifdef __linux__

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "errno.h"
#include "transport-state.h"

namespace slabcast {
namespace transport {

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
static Napi::Value Init(const Napi::CallbackInfo& info) {
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

// Sets up the io ring the first time a listener or connection asks for it (the kernel may refuse:
// then ring_error holds its errno and nothing asks again).
void OpenRing(Transport* t) {
  if (t->ring_error != -1) return;
  t->ring_error = t->ring.Open(kRingEntries);
}

// Whether argument i asks for the io ring (a boolean true).
static bool WantsRing(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsBoolean() && info[i].As<Napi::Boolean>().Value();
}

// adopt(fd[, limit[, ring]]): takes over a connected TCP socket by duplicating `fd` (the caller then
// closes its own descriptor): non-blocking, TCP_NODELAY, out of the epoll set until readStart().
// Returns the slot. A duplicate numbered at or past `limit` (the caller's descriptor budget) is
// closed again and reported as EMFILE, like a full table: the connection is refused. `ring`: its
// sends may go through the io ring.
static Napi::Value Adopt(const Napi::CallbackInfo& info) {
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
  const int32_t slot = NewConn(t, dup_fd);
  if (WantsRing(info, 2)) {
    OpenRing(t);
    t->At(slot)->flags |= kRingIo;
  }
  return Napi::Number::New(env, slot);
}

// listen(fd[, ring]) → id: accepts from the listening TCP socket `fd` from now on, through a
// duplicate in the epoll set (the caller then closes its own descriptor; the socket keeps
// listening). New connections arrive as ACCEPT events carrying `id`. Keeps the loop alive until
// unlisten(id). `ring`: its connections' sends may go through the io ring.
static Napi::Value Listen(const Napi::CallbackInfo& info) {
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
  t->listener_ring.push_back(WantsRing(info, 1));
  if (t->listener_ring.back()) OpenRing(t);
  if (t->watched++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&t->poll));
  return Napi::Number::New(env, id);
}

// unlisten(id): stops accepting and closes the listening socket (connections in its backlog are
// reset by the kernel). A second call is a no-op.
static Napi::Value Unlisten(const Napi::CallbackInfo& info) {
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

static Napi::Value ReadStart(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c == nullptr) return info.Env().Undefined();
  if ((c->flags & (kReading | kEof)) == 0) {
    c->flags |= kReading;
    const int r = Watch(t, c, slot);
    if (r != 0) {
      c->flags = static_cast<uint16_t>(c->flags & ~kReading);
      Push(t, kEventError, slot, r, kSysRead);
    }
  }
  return info.Env().Undefined();
}

static Napi::Value ReadStop(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c == nullptr) return info.Env().Undefined();
  if ((c->flags & kReading) != 0) {
    c->flags = static_cast<uint16_t>(c->flags & ~kReading);
    Watch(t, c, slot);  // leaving the set or dropping EPOLLIN cannot fail for a registered descriptor
  }
  return info.Env().Undefined();
}

// shutdown(slot): FIN after every queued write; the connection closes once the peer's FIN came too.
static Napi::Value Shutdown(const Napi::CallbackInfo& info) {
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
static Napi::Value Close(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  if (c != nullptr) CloseConn(t, c, slot);
  return info.Env().Undefined();
}

// peerAddress(slot): the peer's IP address as text ("127.0.0.1", "::1", "::ffff:127.0.0.1"), or
// undefined when the connection is closed or getpeername(2) fails (the peer is gone). Asked rarely
// (a handshake, an admin request), so it is not kept per connection.
static Napi::Value PeerAddress(const Napi::CallbackInfo& info) {
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
static Napi::Value WriteQueueSize(const Napi::CallbackInfo& info) {
  Transport* t;
  int32_t slot;
  Conn* c = GetConn(info, &t, &slot);
  Napi::Env env = info.Env();
  if (c == nullptr || c->queue == nullptr) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, static_cast<double>(c->queue->bytes()));
}

// Counters for tests and metrics: open connections, slots allocated, bytes per connection.
static Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = env.GetInstanceData<Transport>();
  Napi::Object o = Napi::Object::New(env);
  o.Set("open", Napi::Number::New(env, t->open));
  o.Set("slots", Napi::Number::New(env, static_cast<double>(t->slot_count)));
  o.Set("connSize", Napi::Number::New(env, static_cast<double>(sizeof(Conn))));
  // The io ring: 0 when open, the errno the kernel refused it with, or -1 (nobody asked yet).
  o.Set("ioRing", Napi::Number::New(env, t->ring_error));
  o.Set("ringSubmits", Napi::Number::New(env, static_cast<double>(t->ring.submits())));
  o.Set("ringSends", Napi::Number::New(env, static_cast<double>(t->ring.sends())));
  // Busy connections watched by a uv_poll_t of their own rather than the shared epoll set.
  o.Set("ownPolls", Napi::Number::New(env, static_cast<double>(t->own_polls.size())));
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

static void OnLoopHandleClosed(uv_handle_t* h) { TeardownStep(static_cast<Transport*>(h->data)); }

static void Teardown(napi_async_cleanup_hook_handle handle, void* arg) {
  Transport* t = static_cast<Transport*>(arg);
  t->cleanup = handle;
  t->tearing_down = true;  // no events, no napi calls: the env releases its references itself
  CloseOwnPolls(t);        // before the descriptors they watch
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
  t->teardown_pending = 3 + t->polls_closing;  // check, idle, cool, and every own poll still closing
  if (t->ep >= 0) {
    t->teardown_pending++;
    uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), OnLoopHandleClosed);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&t->check), OnLoopHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&t->idle), OnLoopHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&t->cool), OnLoopHandleClosed);
}

// The Transport's lifetime belongs to Teardown, not to the instance data.
static void KeepInstanceData(Napi::Env /*env*/, Transport* /*t*/) {}

}  // namespace transport

void InitTransport(Napi::Env env, Napi::Object exports) {
  using namespace transport;  // the N-API functions above
  Transport* t = new Transport();
  t->env = env;
  napi_get_uv_event_loop(env, &t->loop);
  uv_check_init(t->loop, &t->check);
  uv_idle_init(t->loop, &t->idle);
  uv_timer_init(t->loop, &t->cool);
  uv_unref(reinterpret_cast<uv_handle_t*>(&t->cool));  // a timing detail: never keeps the loop alive
  t->check.data = t;
  t->idle.data = t;
  t->cool.data = t;
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
  // another major version (the uv_poll_t/uv_check_t/uv_idle_t/uv_timer_t layouts embedded in the Transport)
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
