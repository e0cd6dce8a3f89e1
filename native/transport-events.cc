// The transport's event batch to JS: events recorded during the poll phase (or during a JS call)
// go into the shared Int32Array and reach JS as one onEvents(count) call from the check or idle phase.
#ifdef __linux__

#include <algorithm>
#include <cstring>

#include "transport-state.h"

namespace slabcast {
namespace transport {

static void OnCheck(uv_check_t* handle) { Deliver(static_cast<Transport*>(handle->data)); }
static void OnIdle(uv_idle_t* handle) { Deliver(static_cast<Transport*>(handle->data)); }

// Asks for a delivery in this iteration's check phase, or (events recorded after it, e.g. during a
// delivery) the next iteration's idle phase; an active idle handle also keeps the poll phase from
// blocking.
static void Arm(Transport* t) {
  if (t->armed) return;
  t->armed = true;
  uv_check_start(&t->check, OnCheck);
  uv_idle_start(&t->idle, OnIdle);
}

// Into the event array (or the overflow when it is full). A CLOSE's slot is freed after the
// delivery that carries it.
static void Append(Transport* t, int32_t kind, int32_t slot, int32_t a, int32_t b) {
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
static void TakeDeferred(Transport* t) {
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

static void FreeClosedSlots(Transport* t) {
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
  napi_value callback, argv[1], result;
  napi_get_reference_value(env, t->callback_ref, &callback);
  // make_callback needs an object receiver; the callback is an arrow function, so any object does,
  // and the function itself costs nothing to find (the global object is a lookup per call).
  const napi_value recv = callback;
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

}  // namespace transport
}  // namespace slabcast

#endif  // __linux__
