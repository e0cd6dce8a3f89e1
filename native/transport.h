// The TCP transport half of the addon (transport*.cc): exported as `transport`.
#ifndef SLABCAST_NATIVE_TRANSPORT_H_
#define SLABCAST_NATIVE_TRANSPORT_H_

#include <napi.h>

namespace slabcast {

// Adds the `transport` object to the addon's exports.
void InitTransport(Napi::Env env, Napi::Object exports);

}  // namespace slabcast

#endif  // SLABCAST_NATIVE_TRANSPORT_H_
