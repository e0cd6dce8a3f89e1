// The transport's shared state: event kinds, limits, the Conn and Transport structs, and the
// functions its files call across (transport.cc holds the design overview). Linux only.
#ifndef SLABCAST_NATIVE_TRANSPORT_STATE_H_
#define SLABCAST_NATIVE_TRANSPORT_STATE_H_

#ifdef __linux__

#include <limits.h>
#include <napi.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "io-ring.h"
#include "write-queue.h"

namespace slabcast {
namespace transport {

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
// One recv(2) takes at most this much: a large message comes in a few calls, each of which also
// frees receive window the kernel then announces (on a 1 MiB echo, 64 KiB reads cost ~7% more CPU
// per message, mostly in the kernel).
constexpr size_t kMaxReadBytes = 256 * 1024;
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
// A connection found readable in this many wake-ups of the shared set within one second of the
// loop's clock leaves the set for a uv_poll_t of its own (libuv's epoll then reports it directly:
// no nested epoll_wait per wake-up), at most kMaxOwnPolls at a time. Every kCoolMs, one that woke
// fewer than kHotWakeups times since the last look goes back into the set.
constexpr uint8_t kHotWakeups = 8;
constexpr size_t kMaxOwnPolls = 1024;
constexpr uint64_t kCoolMs = 1000;

#ifdef IOV_MAX
constexpr size_t kMaxIov = IOV_MAX;
#else
constexpr size_t kMaxIov = 1024;
#endif
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
// Operations per io ring submission (a larger batch takes one system call per this many sockets).
constexpr unsigned kRingEntries = 1024;

enum ConnFlags : uint16_t {
  kReading = 1,       // JS reads (readStart until readStop, EOF or a read error)
  kEof = 2,           // the peer's FIN came
  kShutdownSent = 4,  // shutdown() was called: FIN once the queue is empty
  kShutdownDone = 8,  // FIN is sent
  kLive = 16,         // the slot holds an open descriptor (adopt() until close)
  kWatchIn = 32,      // in the epoll set with EPOLLIN
  kWatchOut = 64,     // in the epoll set with EPOLLOUT
  kInRing = 128,      // writeBatch(): a send of it waits in the io ring's submission
  kRingIo = 256,      // its server lets the io ring carry its sends (listen/adopt)
  kOwnPoll = 512,     // watched by its own uv_poll_t (Transport::own_polls), not the epoll set
};

// One connection. The slot is its index (Transport::At) and the epoll data of its registration.
struct Conn {
  int32_t fd;
  uint16_t flags;
  // Readable wake-ups from the shared set: the loop clock's second (mod 16) in the high nibble, the
  // count within it in the low one. Lives in what would be padding: a Conn stays 16 bytes.
  uint8_t heat;
  WriteQueue* queue;  // null unless writes wait for EPOLLOUT
};

struct Transport;
// A busy connection's own watch (kOwnPoll). `handle` comes first: libuv's callbacks get its address.
struct OwnPoll {
  uv_poll_t handle;
  Transport* t;
  int32_t slot;
  uint32_t wakes;  // readable wake-ups since the cool timer last looked
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
  std::vector<bool> listener_ring;    // by id: its connections get kRingIo
  int reserve_fd = -1;                // held while listening: freed to shed a connection on EMFILE
  uv_poll_t poll;                     // libuv's watch on `ep`
  uint32_t watched = 0;               // connections and listeners watched (the set or their own poll)
  std::unordered_map<int32_t, OwnPoll*> own_polls;  // by slot
  uint32_t polls_closing = 0;                        // own polls whose close callback has not run
  uv_timer_t cool;                                   // runs while own_polls is not empty
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
  // The io ring (io-ring.h), set up when the first listener or adopted connection asks for it: the
  // sends of writeBatch() to connections with kRingIo go through it, one system call per batch.
  // ring_error: 0 once open, else the errno the kernel refused it with (-1: never asked).
  IoRing ring;
  int ring_error = -1;
  // One batch's iovecs and JS values for every record (the ring reads them at submission; a
  // partial send queues the rest from them), and the records waiting in the ring.
  struct RingSend {
    uint32_t record;
    int32_t slot;
    uint32_t iov_at;
    uint32_t n;
    size_t total;
  };
  std::vector<iovec> ring_iov;
  std::vector<napi_value> ring_values;
  std::vector<RingSend> ring_sends;
};

// transport-events.cc: the event batch to JS.
void Push(Transport* t, int32_t kind, int32_t slot, int32_t a, int32_t b);
void Deliver(Transport* t);

// transport-poll.cc: the epoll side.
int Watch(Transport* t, Conn* c, int32_t slot);
void DropQueue(Transport* t, Conn* c);
void CloseConn(Transport* t, Conn* c, int32_t slot);
void SendShutdown(Transport* t, Conn* c, int32_t slot);
int64_t SendNow(int fd, iovec* bufs, size_t n);
void OnEpoll(uv_poll_t* handle, int status, int events);
int32_t NewConn(Transport* t, int fd);
void OpenRing(Transport* t);
void OnCool(uv_timer_t* timer);
void CloseOwnPolls(Transport* t);

// transport-writes.cc: writes from JS.
Napi::Value WriteSlice(const Napi::CallbackInfo& info);
Napi::Value Writev(const Napi::CallbackInfo& info);
Napi::Value WriteBatch(const Napi::CallbackInfo& info);

// transport.cc: the N-API surface.
Transport* Get(const Napi::CallbackInfo& info);
Conn* GetConn(const Napi::CallbackInfo& info, Transport** out, int32_t* slot_out);
void TeardownStep(Transport* t);

}  // namespace transport
}  // namespace slabcast

#endif  // __linux__

#endif  // SLABCAST_NATIVE_TRANSPORT_STATE_H_
