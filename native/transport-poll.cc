// The transport's epoll side: each connection's registration, reads into the arena, flushes of
// queued writes, closes and shutdowns, and accepts from listeners, run from libuv's watch on the
// epoll descriptor.
#ifdef __linux__

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "transport-state.h"

namespace slabcast {
namespace transport {

static void OnOwnPoll(uv_poll_t* handle, int status, int events);

// epoll's and libuv's events for the watch bits in `bits` (kWatchIn, kWatchOut).
static uint32_t EpollEvents(uint16_t bits) {
  return ((bits & kWatchIn) != 0 ? EPOLLIN : 0u) | ((bits & kWatchOut) != 0 ? EPOLLOUT : 0u);
}
static int UvEvents(uint16_t bits) {
  return ((bits & kWatchIn) != 0 ? UV_READABLE : 0) | ((bits & kWatchOut) != 0 ? UV_WRITABLE : 0);
}

// Brings the connection's registration in line with what it waits for: EPOLLIN while reading,
// EPOLLOUT while writes are queued, out of the set (or its own poll stopped) when neither. 0 or a
// negative errno.
int Watch(Transport* t, Conn* c, int32_t slot) {
  const uint8_t want = static_cast<uint8_t>(((c->flags & kReading) != 0 ? kWatchIn : 0) | (c->queue != nullptr ? kWatchOut : 0));
  const uint8_t have = static_cast<uint8_t>(c->flags & (kWatchIn | kWatchOut));
  if (want == have) return 0;
  if ((c->flags & kOwnPoll) != 0) {
    uv_poll_t* handle = &t->own_polls.find(slot)->second->handle;
    const int r = want == 0 ? uv_poll_stop(handle) : uv_poll_start(handle, UvEvents(want), OnOwnPoll);
    if (r != 0) return r;
  } else {
    const int op = have == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    epoll_event ev;
    ev.events = EpollEvents(want);
    ev.data.u64 = static_cast<uint64_t>(slot);
    if (epoll_ctl(t->ep, op, c->fd, &ev) != 0) return -errno;
  }
  c->flags = static_cast<uint16_t>((c->flags & ~(kWatchIn | kWatchOut)) | want);
  if (have == 0) {
    if (t->watched++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&t->poll));
  } else if (want == 0) {
    if (--t->watched == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  }
  return 0;
}

static void OnOwnPollClosed(uv_handle_t* handle) {
  OwnPoll* p = reinterpret_cast<OwnPoll*>(handle);
  Transport* t = p->t;
  delete p;
  t->polls_closing--;
  if (t->tearing_down) TeardownStep(t);
}

// Closes the connection's own poll (libuv drops its registration at once; the memory goes with the
// close callback). The cool timer stops with the last one.
static void ReleaseOwnPoll(Transport* t, int32_t slot) {
  auto it = t->own_polls.find(slot);
  OwnPoll* p = it->second;
  t->own_polls.erase(it);
  t->polls_closing++;
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), OnOwnPollClosed);
  if (t->own_polls.empty()) uv_timer_stop(&t->cool);
}

// Env teardown: every own poll closes (the connections' descriptors are closed after).
void CloseOwnPolls(Transport* t) {
  for (auto& entry : t->own_polls) {
    t->polls_closing++;
    uv_close(reinterpret_cast<uv_handle_t*>(&entry.second->handle), OnOwnPollClosed);
  }
  t->own_polls.clear();
  uv_timer_stop(&t->cool);
}

// The busy connection in `slot` leaves the shared set for a poll of its own (Transport::own_polls).
// Nothing changes when libuv refuses: it stays in the set.
static void Promote(Transport* t, Conn* c, int32_t slot) {
  OwnPoll* p = new OwnPoll();
  p->t = t;
  p->slot = slot;
  p->wakes = 0;
  if (uv_poll_init(t->loop, &p->handle, c->fd) != 0) {
    delete p;
    return;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&p->handle));  // t->poll keeps the loop alive: `watched` counts it
  if (uv_poll_start(&p->handle, UvEvents(c->flags), OnOwnPoll) != 0 || epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, nullptr) != 0) {
    t->polls_closing++;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), OnOwnPollClosed);
    return;
  }
  c->flags |= kOwnPoll;
  t->own_polls.emplace(slot, p);
  if (t->own_polls.size() == 1) uv_timer_start(&t->cool, OnCool, kCoolMs, kCoolMs);
}

// The connection in `slot` goes back into the shared set with what it waits for. If the kernel
// refuses (ENOMEM), it stops reading and JS gets a read error.
static void Demote(Transport* t, Conn* c, int32_t slot) {
  ReleaseOwnPoll(t, slot);
  c->flags = static_cast<uint16_t>(c->flags & ~kOwnPoll);
  c->heat = 0;
  const uint16_t bits = static_cast<uint16_t>(c->flags & (kWatchIn | kWatchOut));
  if (bits == 0) return;
  epoll_event ev;
  ev.events = EpollEvents(bits);
  ev.data.u64 = static_cast<uint64_t>(slot);
  if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) == 0) return;
  const int err = errno;
  c->flags = static_cast<uint16_t>(c->flags & ~(kWatchIn | kWatchOut | kReading));
  if (--t->watched == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  Push(t, kEventError, slot, -err, kSysRead);
}

// Every kCoolMs while own polls exist: the ones that woke fewer than kHotWakeups times since the
// last look go back into the set.
void OnCool(uv_timer_t* timer) {
  Transport* t = static_cast<Transport*>(timer->data);
  for (auto it = t->own_polls.begin(); it != t->own_polls.end();) {
    const int32_t slot = it->first;
    OwnPoll* p = it->second;
    ++it;  // Demote erases this entry
    if (p->wakes >= kHotWakeups) {
      p->wakes = 0;
      continue;
    }
    Demote(t, t->At(slot), slot);
  }
}

// Releases a queued write's references (during env teardown the env releases them itself).
static void DeleteWrite(Transport* t, QueuedWrite* w) {
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
  // Before the close: libuv drops its registration of the descriptor now.
  if ((c->flags & kOwnPoll) != 0) ReleaseOwnPoll(t, slot);
  if ((c->flags & (kWatchIn | kWatchOut)) != 0) {
    // Explicitly: the registration belongs to the open file description, which a forked child
    // may share, not to the descriptor.
    if ((c->flags & kOwnPoll) == 0) epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, nullptr);
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
static void Consume(Transport* t, Conn* c, int32_t slot, size_t sent) {
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
static void FailQueue(Transport* t, Conn* c, int32_t slot, int status) {
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
static void Flush(Transport* t, Conn* c, int32_t slot) {
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

// The peer's FIN (a recv returned 0): no more reading; the connection closes if our FIN is out too.
static void ReadEof(Transport* t, Conn* c, int32_t slot) {
  c->flags = static_cast<uint16_t>((c->flags | kEof) & ~kReading);
  Watch(t, c, slot);
  Push(t, kEventEof, slot, 0, 0);
  if ((c->flags & kShutdownDone) != 0) CloseConn(t, c, slot);
}

// A recv failed with `err`: no more reading, JS is told.
static void ReadFailed(Transport* t, Conn* c, int32_t slot, int err) {
  c->flags = static_cast<uint16_t>(c->flags & ~kReading);
  Watch(t, c, slot);
  Push(t, kEventError, slot, -err, kSysRead);
}

// EPOLLIN (or a hang-up or error, which the recv reports): reads into the arena while it has room.
static void Read(Transport* t, Conn* c, int32_t slot) {
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
      ReadEof(t, c, slot);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    ReadFailed(t, c, slot, errno);
    return;
  }
}

// One ready connection. JS may have run since epoll_wait (a delivery past kDeliverBytes) and
// closed, paused or even replaced the connection in this slot: every action depends on the state
// now, and a stale readiness costs one recv/send that finds nothing (EAGAIN).
static void Accept(Transport* t, int32_t id);

static void OnReady(const epoll_event& e, Transport* t) {
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

// A readable wake-up of the connection in `slot` from the shared set: the kHotWakeups-th within
// one second of the loop's clock promotes it to a poll of its own.
static void Heat(Transport* t, int32_t slot) {
  Conn* c = t->At(slot);
  if ((c->flags & (kLive | kReading | kOwnPoll)) != (kLive | kReading)) return;
  const uint8_t second = static_cast<uint8_t>((uv_now(t->loop) / 1000) & 15);
  if ((c->heat >> 4) != second) {
    c->heat = static_cast<uint8_t>((second << 4) | 1);
    return;
  }
  if ((c->heat & 15) + 1 < kHotWakeups) {
    c->heat++;
    return;
  }
  if (t->own_polls.size() < kMaxOwnPolls) Promote(t, c, slot);
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
    for (int i = 0; i < n; i++) {
      const epoll_event& e = t->ready[i];
      OnReady(e, t);
      if ((e.events & EPOLLIN) != 0 && (e.data.u64 & kListenerTag) == 0) Heat(t, static_cast<int32_t>(e.data.u64));
    }
    // Blocked reads would be reported again at once: they wait for the next iteration.
    if (t->reads_blocked || n < kReadyEvents) return;
  }
}

// A connection's own poll fired: the same work as a ready entry of the set. libuv stops the handle
// when it reports an error (status < 0); it is started again while the connection still waits for
// something, so what the error left unread is reported again.
static void OnOwnPoll(uv_poll_t* handle, int status, int events) {
  OwnPoll* p = reinterpret_cast<OwnPoll*>(handle);
  Transport* t = p->t;
  epoll_event e;
  e.data.u64 = static_cast<uint64_t>(p->slot);
  if (status < 0) {
    e.events = EPOLLERR;
  } else {
    e.events = ((events & UV_READABLE) != 0 ? EPOLLIN : 0u) | ((events & UV_WRITABLE) != 0 ? EPOLLOUT : 0u);
    if ((events & UV_READABLE) != 0) p->wakes++;
  }
  t->reads_blocked = false;
  OnReady(e, t);
  if (status >= 0) return;
  Conn* c = t->At(p->slot);
  // JS may have closed it (the handle is closing) during an early delivery.
  if ((c->flags & (kLive | kOwnPoll)) != (kLive | kOwnPoll)) return;
  const uint16_t bits = static_cast<uint16_t>(c->flags & (kWatchIn | kWatchOut));
  if (bits != 0) uv_poll_start(handle, UvEvents(bits), OnOwnPoll);
}

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
  c->heat = 0;
  c->queue = nullptr;
  t->open++;
  return slot;
}

// Takes what listener `id` has in its backlog, up to kAcceptsPerWake: each connection gets a slot
// (non-blocking, TCP_NODELAY inherited from the listener) and an ACCEPT event; JS admits it or
// closes it. With the descriptor table full (EMFILE/ENFILE) the connection is shed the way libuv
// sheds it: the reserve descriptor is freed, the connection accepted and closed at once, the
// reserve taken back; one ACCEPT_ERROR tells JS. Any other error is reported and the listener is
// tried again next iteration (it stays readable).
static void Accept(Transport* t, int32_t id) {
  for (int i = 0; i < kAcceptsPerWake; i++) {
    const int listener = t->listeners[static_cast<size_t>(id)];
    if (listener < 0) return;  // JS unlisten()ed during an early delivery
    const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      const int32_t slot = NewConn(t, fd);
      if (t->listener_ring[static_cast<size_t>(id)]) t->At(slot)->flags |= kRingIo;
      Push(t, kEventAccept, slot, fd, id);
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

}  // namespace transport
}  // namespace slabcast

#endif  // __linux__
