// IoRing (io-ring.h): the ring's setup and its two system calls, without liburing (the
// structures and calls are the kernel's UAPI, <linux/io_uring.h>).
#ifdef __linux__

#include "io-ring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

namespace slabcast {
namespace transport {

static void* MapRing(int fd, size_t size, off_t what) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, what);
  return p == MAP_FAILED ? nullptr : p;
}

int IoRing::Open(unsigned entries) {
  if (fd_ >= 0) return 0;
  io_uring_params p;
  std::memset(&p, 0, sizeof(p));
  // One thread submits, and completions are only read in io_uring_enter: the cheapest mode. Linux
  // 6.1 or later, on purpose: the ring relies on MSG_DONTWAIT making a send complete with -EAGAIN
  // instead of waiting for the socket (a send parked there would hold Submit() until the
  // peer reads), which older kernels do not all honour. They refuse these flags (EINVAL) and the
  // caller makes its own system calls.
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  const int fd = static_cast<int>(syscall(__NR_io_uring_setup, entries, &p));
  if (fd < 0) return errno;
  fd_ = fd;
  sq_map_size_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cq_map_size_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  if ((p.features & IORING_FEAT_SINGLE_MMAP) != 0) {
    if (cq_map_size_ > sq_map_size_) sq_map_size_ = cq_map_size_;
    cq_map_size_ = 0;
  }
  sq_map_ = MapRing(fd, sq_map_size_, IORING_OFF_SQ_RING);
  cq_map_ = cq_map_size_ == 0 ? sq_map_ : MapRing(fd, cq_map_size_, IORING_OFF_CQ_RING);
  sqes_size_ = p.sq_entries * sizeof(io_uring_sqe);
  sqes_ = static_cast<io_uring_sqe*>(MapRing(fd, sqes_size_, IORING_OFF_SQES));
  if (sq_map_ == nullptr || cq_map_ == nullptr || sqes_ == nullptr) {
    const int err = errno;
    Close();
    return err;
  }
  char* sq = static_cast<char*>(sq_map_);
  char* cq = static_cast<char*>(cq_map_);
  sq_tail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
  sq_mask_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
  sq_array_ = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
  cq_head_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
  cq_tail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
  cq_mask_ = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
  cqes_ = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
  // Completions never outnumber one submission (the kernel makes the CQ ring twice the SQ ring).
  entries_ = p.sq_entries;
  msgs_.resize(entries_);
  tags_.resize(entries_);
  got_.resize(entries_);
  return 0;
}

void IoRing::Close() {
  if (sqes_ != nullptr) munmap(sqes_, sqes_size_);
  if (cq_map_ != nullptr && cq_map_ != sq_map_) munmap(cq_map_, cq_map_size_);
  if (sq_map_ != nullptr) munmap(sq_map_, sq_map_size_);
  sqes_ = nullptr;
  cq_map_ = sq_map_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  entries_ = 0;
  pending_ = 0;
}

io_uring_sqe* IoRing::Next(int fd, uint32_t tag) {
  const unsigned k = pending_++;
  const unsigned index = (*sq_tail_ + k) & sq_mask_;
  io_uring_sqe* sqe = &sqes_[index];
  std::memset(sqe, 0, sizeof(*sqe));
  sqe->fd = fd;
  sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
  sqe->user_data = k;
  sq_array_[index] = index;
  tags_[k] = tag;
  got_[k] = 0;
  return sqe;
}

void IoRing::Add(int fd, iovec* bufs, size_t n, uint32_t tag) {
  const unsigned k = pending_;
  io_uring_sqe* sqe = Next(fd, tag);
  if (n == 1) {
    sqe->opcode = IORING_OP_SEND;
    sqe->addr = reinterpret_cast<uint64_t>(bufs[0].iov_base);
    sqe->len = static_cast<uint32_t>(bufs[0].iov_len);
  } else {
    msghdr& msg = msgs_[k];
    std::memset(&msg, 0, sizeof(msg));
    msg.msg_iov = bufs;
    msg.msg_iovlen = n;
    sqe->opcode = IORING_OP_SENDMSG;
    sqe->addr = reinterpret_cast<uint64_t>(&msg);
  }
}

void IoRing::Publish() {
  // The SQEs written by Add() become visible to the kernel with the new tail.
  __atomic_store_n(sq_tail_, *sq_tail_ + pending_, __ATOMIC_RELEASE);
}

int IoRing::Enter(unsigned submit, unsigned wait) {
  for (;;) {
    const long r = syscall(__NR_io_uring_enter, fd_, submit, wait, IORING_ENTER_GETEVENTS, nullptr, 0);
    if (r >= 0) return static_cast<int>(r);
    if (errno != EINTR) return -errno;
  }
}

}  // namespace transport
}  // namespace slabcast

#endif  // __linux__
