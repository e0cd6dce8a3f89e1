// A connection's queued writes (transport.cc): the bytes the kernel did not take at once, one entry
// per write call, oldest first. The queue only keeps order and counts bytes; the transport owns the
// references, the events and the epoll interest around it.
#ifndef SLABCAST_NATIVE_WRITE_QUEUE_H_
#define SLABCAST_NATIVE_WRITE_QUEUE_H_

#include <node_api.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <vector>

namespace slabcast {

// One write call's untaken bytes: its pieces from the first untaken byte on, references to the JS
// buffers they lie in, and a copy of the pieces that lay in the read arena (which is reused).
struct QueuedWrite {
  QueuedWrite* next = nullptr;
  std::vector<iovec> pieces;
  size_t first = 0;  // pieces[first..] are still to send (pieces[first] shrinks as bytes leave)
  std::vector<napi_ref> refs;
  std::unique_ptr<char[]> copied;

  // Bytes still to send.
  size_t Bytes() const {
    size_t n = 0;
    for (size_t i = first; i < pieces.size(); i++) n += pieces[i].iov_len;
    return n;
  }
};

// Made with a connection's first queued write and deleted once empty: a connection with nothing
// queued holds a null pointer only.
class WriteQueue {
 public:
  explicit WriteQueue(QueuedWrite* w) : head_(w), tail_(w), bytes_(w->Bytes()) {}
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Bytes not yet taken by the kernel.
  size_t bytes() const { return bytes_; }
  bool empty() const { return head_ == nullptr; }

  void Append(QueuedWrite* w) {
    bytes_ += w->Bytes();
    if (tail_ == nullptr) head_ = w;
    else tail_->next = w;
    tail_ = w;
  }

  // Unlinks the oldest write (nullptr when empty).
  QueuedWrite* Pop() {
    QueuedWrite* w = head_;
    if (w == nullptr) return nullptr;
    head_ = w->next;
    if (head_ == nullptr) tail_ = nullptr;
    bytes_ -= w->Bytes();
    w->next = nullptr;
    return w;
  }

  // Copies up to `max` unsent pieces, in order, into `iov`: returns how many, `*total` their bytes.
  size_t Gather(iovec* iov, size_t max, size_t* total) const {
    size_t n = 0;
    *total = 0;
    for (const QueuedWrite* w = head_; w != nullptr && n < max; w = w->next) {
      for (size_t i = w->first; i < w->pieces.size() && n < max; i++) {
        iov[n++] = w->pieces[i];
        *total += w->pieces[i].iov_len;
      }
    }
    return n;
  }

  // `sent` bytes (at most bytes()) left the front of the queue: each write they complete is
  // unlinked and handed to `done(w)`, oldest first.
  template <typename Done>
  void Consume(size_t sent, Done done) {
    bytes_ -= sent;
    while (QueuedWrite* w = head_) {
      while (w->first < w->pieces.size()) {
        iovec& p = w->pieces[w->first];
        if (p.iov_len > sent) {
          p.iov_base = static_cast<char*>(p.iov_base) + sent;
          p.iov_len -= sent;
          sent = 0;
          break;
        }
        sent -= p.iov_len;
        w->first++;
      }
      if (w->first < w->pieces.size()) return;
      head_ = w->next;
      if (head_ == nullptr) tail_ = nullptr;
      w->next = nullptr;
      done(w);
    }
  }

 private:
  QueuedWrite* head_;
  QueuedWrite* tail_;
  size_t bytes_;
};

}  // namespace slabcast

#endif  // SLABCAST_NATIVE_WRITE_QUEUE_H_
