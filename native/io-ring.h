// IoRing: the sends of one write phase handed to the kernel in one system call (io_uring) instead of
// one send(2) per socket. Linux 6.1 or later; where the kernel refuses it (older kernels, a seccomp
// profile, kernel.io_uring_disabled) Open() fails and the caller sends one by one.
//
// Every send carries MSG_DONTWAIT, so the kernel never parks one waiting for room in a socket
// buffer: each completes during the submission with what a send(2) would have returned (bytes
// taken, -EAGAIN, another negative errno). Submit() waits for all of them, so nothing is ever in
// flight between two calls and the caller's buffers are free again when it returns. The caller keeps
// at most one operation per socket in a submission (order within a socket is then never in question).
#ifndef SLABCAST_NATIVE_IO_RING_H_
#define SLABCAST_NATIVE_IO_RING_H_

#ifdef __linux__

#include <linux/io_uring.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace slabcast {
namespace transport {

class IoRing {
 public:
  IoRing() = default;
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;
  ~IoRing() { Close(); }

  // Sets up a ring of `entries` submissions (a power of two). 0, or the errno the kernel refused it with.
  int Open(unsigned entries);
  void Close();
  bool is_open() const { return fd_ >= 0; }
  // Sends queued and not yet submitted; Add() needs pending() < capacity().
  unsigned pending() const { return pending_; }
  unsigned capacity() const { return entries_; }
  // Submissions (system calls) and sends made through the ring so far.
  uint64_t submits() const { return submits_; }
  uint64_t sends() const { return sends_; }

  // Queues a send of bufs[0, n) on `fd` (at most IOV_MAX buffers: the caller caps n); `tag` comes
  // back with its result. The buffers must stay valid until Submit() returns.
  void Add(int fd, iovec* bufs, size_t n, uint32_t tag);

  // Submits everything queued and waits for the results: done(tag, result) for each, result being
  // the bytes sent or a negative errno. Returns 0, or the negative errno of a failed
  // io_uring_enter: the ring is then closed and done(tag, kNotSent) reports each operation that did
  // not complete (the caller makes those itself).
  template <typename Done>
  int Submit(Done done);

  static constexpr int32_t kNotSent = INT32_MIN;

 private:
  // The next submission slot, cleared, for operation `tag` (user_data is its index).
  io_uring_sqe* Next(int fd, uint32_t tag);
  void Publish();
  // io_uring_enter: hands `submit` more of the published sends to the kernel and waits until `wait`
  // results can be read. Sends taken, or a negative errno.
  int Enter(unsigned submit, unsigned wait);
  template <typename Done>
  unsigned Reap(Done& done);

  int fd_ = -1;
  unsigned entries_ = 0;
  unsigned pending_ = 0;
  uint64_t submits_ = 0;
  uint64_t sends_ = 0;
  // The mappings: submission ring, completion ring (one mapping when the kernel shares them), SQEs.
  void* sq_map_ = nullptr;
  size_t sq_map_size_ = 0;
  void* cq_map_ = nullptr;
  size_t cq_map_size_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_size_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  std::vector<msghdr> msgs_;  // one per submission slot, for sends of several buffers
  // Per send of the current submission (user_data is its index): the caller's tag, and whether its
  // result came.
  std::vector<uint32_t> tags_;
  std::vector<uint8_t> got_;
};

template <typename Done>
unsigned IoRing::Reap(Done& done) {
  unsigned head = *cq_head_;
  const unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
  unsigned n = 0;
  for (; head != tail; head++, n++) {
    const io_uring_cqe& cqe = cqes_[head & cq_mask_];
    const size_t k = static_cast<size_t>(cqe.user_data);
    got_[k] = 1;
    done(tags_[k], cqe.res);
  }
  __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
  return n;
}

template <typename Done>
int IoRing::Submit(Done done) {
  if (pending_ == 0) return 0;
  unsigned submitted = 0;
  unsigned completed = 0;
  Publish();
  while (completed < pending_) {
    const int r = Enter(pending_ - submitted, pending_ - completed);
    if (r < 0) {
      completed += Reap(done);
      for (unsigned k = 0; k < pending_; k++) {
        if (got_[k] == 0) done(tags_[k], kNotSent);
      }
      pending_ = 0;
      Close();
      return r;
    }
    submitted += static_cast<unsigned>(r);
    completed += Reap(done);
  }
  submits_++;
  sends_ += pending_;
  pending_ = 0;
  return 0;
}

}  // namespace transport
}  // namespace slabcast

#endif  // __linux__

#endif  // SLABCAST_NATIVE_IO_RING_H_
