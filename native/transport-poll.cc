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
  c->flags = static_cast<uint16_t>((c->flags & ~(kWatchIn | kWatchOut)) | want);
  if (have == 0) {
    if (t->watched++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&t->poll));
  } else if (want == 0) {
    if (--t->watched == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  }
  return 0;
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
