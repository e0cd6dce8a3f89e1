// The transport's writes from JS: writeSlice(), writev() and writeBatch() send at once what the
// kernel takes and queue the rest per connection (copying bytes of the read arena).
#ifdef __linux__

#include <cerrno>
#include <cstring>

#include "errno.h"
#include "transport-state.h"

namespace slabcast {
namespace transport {

// Whether `buf` lies in the read arena, which is reused as soon as the delivery returns.
static bool InArena(const Transport* t, const iovec& buf) {
  const uint8_t* p = static_cast<const uint8_t*>(buf.iov_base);
  return p >= t->arena && p < t->arena + t->arena_size;
}

// Queues bufs[skip bytes..] as one write (one WRITE_DONE once it has left), holding a reference to
// each JS value. Bytes in the read arena (JS writes received bytes in place during a delivery: an
// echo) are copied instead, the untaken part only: the next read overwrites the arena. The first
// queued write puts the connection in the epoll set for EPOLLOUT. 0 or a negative errno.
static int QueueRest(Napi::Env env, Transport* t, Conn* c, int32_t slot, iovec* bufs, napi_value* values, size_t n, size_t skip) {
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

static bool ReadView(Napi::Env env, napi_value value, iovec* out) {
  // One call checks the kind too: anything but a typed array is napi_invalid_arg.
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_uint8_array) return false;
  out->iov_base = data;
  out->iov_len = length;
  return true;
}

// A Float64Array's elements (one napi call: node-addon-api's wrappers ask V8 twice per array).
static bool Float64View(napi_env env, napi_value value, double** data, size_t* length) {
  napi_typedarray_type type;
  void* at;
  if (napi_get_typedarray_info(env, value, &type, length, &at, nullptr, nullptr) != napi_ok || type != napi_float64_array) return false;
  *data = static_cast<double*>(at);
  return true;
}

// Tries `bufs` at once unless writes are queued (nothing may leave ahead of them); queues the
// rest. Returns bytes the kernel took now (== total: done, no event; < total: one WRITE_DONE event
// follows), or a negative errno (nothing queued).
static int64_t WriteBufs(Napi::Env env, Transport* t, Conn* c, int32_t slot, iovec* bufs, napi_value* values, size_t n, size_t total) {
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

// One plan record's pieces (n × (buffer, offset, length), already checked) as iovecs and the JS
// values holding them; returns their total bytes.
static size_t RecordPieces(Transport* t, const double* pieces, size_t n, iovec* iov, napi_value* values) {
  size_t total = 0;
  for (size_t j = 0; j < n; j++, pieces += 3) {
    const size_t b = static_cast<size_t>(pieces[0]);
    const size_t length = static_cast<size_t>(pieces[2]);
    iov[j].iov_base = static_cast<char*>(t->batch_bases[b].iov_base) + static_cast<size_t>(pieces[1]);
    iov[j].iov_len = length;
    values[j] = t->batch_values[b];
    total += length;
  }
  return total;
}

// Hands the ring's sends to the kernel (one system call) and settles each as WriteBufs() would
// have: all taken, the rest queued, or the error. A send the ring could not make (the ring failed
// and is closed) is made with send(2).
static void SubmitRing(Napi::Env env, Transport* t, double* results) {
  const int r = t->ring.Submit([&](uint32_t index, int32_t res) {
    const Transport::RingSend& s = t->ring_sends[index];
    Conn* c = t->At(s.slot);
    c->flags = static_cast<uint16_t>(c->flags & ~kInRing);
    iovec* iov = &t->ring_iov[s.iov_at];
    napi_value* values = &t->ring_values[s.iov_at];
    int64_t sent = res;
    if (res == IoRing::kNotSent) sent = SendNow(c->fd, iov, s.n);
    else if (res == -EWOULDBLOCK || res == -ENOBUFS) sent = -EAGAIN;
    if (sent < 0 && sent != -EAGAIN) {
      results[s.record] = static_cast<double>(sent);
      return;
    }
    const size_t written = sent < 0 ? 0 : static_cast<size_t>(sent);
    if (written == s.total) {
      results[s.record] = static_cast<double>(written);
      return;
    }
    const int q = QueueRest(env, t, c, s.slot, iov, values, s.n, written);
    results[s.record] = q != 0 ? static_cast<double>(q) : static_cast<double>(written);
  });
  if (r != 0) t->ring_error = -r;
  t->ring_sends.clear();
}

// writeBatch() through the io ring: sockets that can send now go into one submission (more when
// the ring is full); a socket with writes already queued, shut down or closed is settled as
// WriteBufs() settles it, without a send, and one whose server did not ask for the ring
// (kRingIo) is sent with send(2).
static void RingBatch(Napi::Env env, Transport* t, const double* plan, uint32_t sockets, size_t total_pieces, double* results) {
  if (t->ring_iov.size() < total_pieces) {
    t->ring_iov.resize(total_pieces);
    t->ring_values.resize(total_pieces);
  }
  size_t at = 0;
  uint32_t iov_at = 0;
  for (uint32_t i = 0; i < sockets; i++) {
    const int32_t slot = static_cast<int32_t>(plan[at]);
    const size_t n = static_cast<size_t>(plan[at + 1]);
    at += 2;
    iovec* iov = &t->ring_iov[iov_at];
    napi_value* values = &t->ring_values[iov_at];
    const size_t total = RecordPieces(t, plan + at, n, iov, values);
    at += n * 3;
    Conn* c = t->At(slot);
    if ((c->flags & kLive) == 0) {
      results[i] = static_cast<double>(-EPIPE);
      continue;
    }
    // A second record for a socket already in the submission: the first must have left (or been
    // queued) before this one is tried.
    if ((c->flags & kInRing) != 0) SubmitRing(env, t, results);
    if (c->queue != nullptr || (c->flags & (kShutdownSent | kRingIo)) != kRingIo || !t->ring.is_open()) {
      results[i] = static_cast<double>(WriteBufs(env, t, c, slot, iov, values, n, total));
      continue;
    }
    if (t->ring.pending() == t->ring.capacity()) SubmitRing(env, t, results);
    if (!t->ring.is_open()) {
      results[i] = static_cast<double>(WriteBufs(env, t, c, slot, iov, values, n, total));
      continue;
    }
    t->ring_sends.push_back({i, slot, iov_at, static_cast<uint32_t>(n), total});
    t->ring.Add(c->fd, iov, n < kMaxIov ? n : kMaxIov, static_cast<uint32_t>(t->ring_sends.size() - 1));
    c->flags |= kInRing;
    iov_at += static_cast<uint32_t>(n);
  }
  SubmitRing(env, t, results);
}

// writeBatch(plan: Float64Array, sockets, slab: Uint8Array, extra: Uint8Array[], nExtra, results:
// Float64Array): the write phase of one turn in one call. For each of `sockets` sockets the plan
// holds [slot, count, then count × (buffer index, offset, length)]: buffer[offset, offset + length)
// in order, where buffer 0 is `slab`, 1 the read arena given to init() and 2 + i is extra[i] (i <
// nExtra); written as writeSlice()/writev() would (results[i] = bytes the kernel took, or a
// negative errno; -EPIPE for a slot whose descriptor is already closed). The whole plan is checked
// before the first write, so a bad plan throws having written nothing. The two buffers every plan
// has are arguments, not array elements: an element read is a generic property lookup in V8.
Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport* t = Get(info);
  if (t == nullptr) return env.Undefined();
  const char* usage = "transport: writeBatch(plan: Float64Array, sockets, slab: Uint8Array, extra: Uint8Array[], nExtra, results: Float64Array)";
  double* plan;
  size_t plan_length;
  double* results;
  size_t results_length;
  iovec slab;
  if (info.Length() < 6 || !Float64View(env, info[0], &plan, &plan_length) || !info[1].IsNumber() || !ReadView(env, info[2], &slab) ||
      !info[3].IsArray() || !info[4].IsNumber() || !Float64View(env, info[5], &results, &results_length)) {
    ThrowType(env, usage);
    return env.Undefined();
  }
  const uint32_t sockets = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t n_extra = info[4].As<Napi::Number>().Uint32Value();
  napi_value array = info[3];
  uint32_t array_length;
  napi_get_array_length(env, array, &array_length);
  if (sockets > results_length || n_extra > array_length) {
    ThrowRange(env, "transport: writeBatch counts out of range");
    return env.Undefined();
  }
  const uint32_t n_buffers = 2 + n_extra;
  t->batch_bases.resize(n_buffers);
  t->batch_values.resize(n_buffers);
  t->batch_bases[0] = slab;
  t->batch_values[0] = info[2];
  t->batch_bases[1].iov_base = t->arena;
  t->batch_bases[1].iov_len = t->arena_size;
  napi_get_reference_value(env, t->arena_ref, &t->batch_values[1]);
  for (uint32_t i = 0; i < n_extra; i++) {
    napi_get_element(env, array, i, &t->batch_values[2 + i]);
    if (!ReadView(env, t->batch_values[2 + i], &t->batch_bases[2 + i])) {
      ThrowType(env, usage);
      return env.Undefined();
    }
  }
  // Check every record first.
  size_t at = 0;
  size_t widest = 0;
  size_t total_pieces = 0;
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
    total_pieces += n;
  }
  // One socket gains nothing from a submission: its send(2) is one system call too.
  if (t->ring.is_open() && sockets > 1) {
    RingBatch(env, t, plan, sockets, total_pieces, results);
    return env.Undefined();
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
    const size_t total = RecordPieces(t, plan + at, n, t->batch_iov.data(), t->batch_iov_values.data());
    at += n * 3;
    Conn* c = t->At(slot);
    results[i] = (c->flags & kLive) == 0 ? static_cast<double>(-EPIPE) : static_cast<double>(WriteBufs(env, t, c, slot, t->batch_iov.data(), t->batch_iov_values.data(), n, total));
  }
  return env.Undefined();
}

}  // namespace transport
}  // namespace slabcast

#endif  // __linux__
