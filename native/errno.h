// Node-style system errors for the mmap addon.
//
// One helper, ErrnoError(), turns an errno value into a JS Error shaped like the
// ones node:fs throws: { code: "EINVAL", errno: -22, syscall: "mmap" }, with the
// message "mmap failed: EINVAL (Invalid argument)". `errno` is negative, as in
// every Node system error (libuv's convention, see the `error.errno` docs), so a
// caller can treat errors from node:fs and from this addon alike.
// The counter-example is mmap-io, which concatenated errno into a string.
#ifndef SLABCAST_NATIVE_ERRNO_H_
#define SLABCAST_NATIVE_ERRNO_H_

#include <napi.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace slabcast {

// The symbolic name of an errno value. Covers everything mmap/msync/madvise/
// munmap/posix_fallocate/statvfs can return (see their man pages) plus the usual file errors; anything
// else falls back to "E<number>" rather than guessing.
inline std::string ErrnoName(int err) {
  switch (err) {
#define SLABCAST_ERRNO_CASE(name) \
  case name:                      \
    return #name;
    SLABCAST_ERRNO_CASE(EACCES)     // fd not open for reading, or PROT_WRITE on a read-only fd
    SLABCAST_ERRNO_CASE(EAGAIN)     // file locked, or too much memory locked
    SLABCAST_ERRNO_CASE(EBADF)      // fd is not a valid descriptor
    SLABCAST_ERRNO_CASE(EBUSY)      // msync MS_INVALIDATE on locked pages
    SLABCAST_ERRNO_CASE(EDQUOT)     // posix_fallocate: the user's disk quota is used up
    SLABCAST_ERRNO_CASE(EEXIST)
    SLABCAST_ERRNO_CASE(EFAULT)
    SLABCAST_ERRNO_CASE(EFBIG)
    SLABCAST_ERRNO_CASE(EINTR)
    SLABCAST_ERRNO_CASE(EINVAL)     // bad length/offset/flags
    SLABCAST_ERRNO_CASE(EIO)        // writeback failed (msync)
    SLABCAST_ERRNO_CASE(EISDIR)
    SLABCAST_ERRNO_CASE(ELOOP)      // statvfs: too many symlinks in the path
    SLABCAST_ERRNO_CASE(EMFILE)
    SLABCAST_ERRNO_CASE(ENFILE)
    SLABCAST_ERRNO_CASE(ENODEV)     // the file type does not support mmap
    SLABCAST_ERRNO_CASE(ENOENT)
    SLABCAST_ERRNO_CASE(ENOMEM)     // no address space, or range not mapped
    SLABCAST_ERRNO_CASE(ENAMETOOLONG)
    SLABCAST_ERRNO_CASE(ENOSPC)     // posix_fallocate: no free block on the filesystem
    SLABCAST_ERRNO_CASE(ENOSYS)
    SLABCAST_ERRNO_CASE(ENOTDIR)
    SLABCAST_ERRNO_CASE(ENOTSUP)    // == EOPNOTSUPP on Linux
    SLABCAST_ERRNO_CASE(ENXIO)
    SLABCAST_ERRNO_CASE(EOVERFLOW)  // offset + length overflows off_t
    SLABCAST_ERRNO_CASE(EPERM)      // sealed file, or noexec mount
    SLABCAST_ERRNO_CASE(ESPIPE)     // posix_fallocate on a pipe or FIFO
    SLABCAST_ERRNO_CASE(EROFS)
    SLABCAST_ERRNO_CASE(ETXTBSY)
#undef SLABCAST_ERRNO_CASE
    default:
      return "E" + std::to_string(err);
  }
}

// Builds (does not throw) an Error for `err` as returned by `syscall`.
// Must run on the JS thread: strerror() is not required to be thread-safe, so a
// worker thread records the errno value and the error is built in OnOK.
inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  const std::string name = ErrnoName(err);
  std::string message = std::string(syscall) + " failed: " + name + " (" + std::strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object object = error.Value();
  object.Set("code", Napi::String::New(env, name));
  object.Set("errno", Napi::Number::New(env, -static_cast<double>(err)));
  object.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

// Argument errors, coded like Node's own (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE).
inline void ThrowCoded(Napi::Error error, const char* code) {
  error.Value().Set("code", code);
  error.ThrowAsJavaScriptException();
}

inline void ThrowType(Napi::Env env, const std::string& message) {
  ThrowCoded(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_TYPE");
}

inline void ThrowRange(Napi::Env env, const std::string& message) {
  ThrowCoded(Napi::RangeError::New(env, message), "ERR_OUT_OF_RANGE");
}

}  // namespace slabcast

#endif  // SLABCAST_NATIVE_ERRNO_H_
