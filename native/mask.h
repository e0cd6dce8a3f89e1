// WebSocket masking half of the addon (mask.cc): exported as `mask`.
#ifndef SLABCAST_NATIVE_MASK_H_
#define SLABCAST_NATIVE_MASK_H_

#include <napi.h>

namespace slabcast {

// Adds the `mask` function to the addon's exports.
void InitMask(Napi::Env env, Napi::Object exports);

}  // namespace slabcast

#endif  // SLABCAST_NATIVE_MASK_H_
