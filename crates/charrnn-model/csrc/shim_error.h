// The error convention of charrnn's C shims (c10d_shim.cpp, autocast_shim.cpp): the caller
// passes a buffer `err` of `len` bytes, and a call returns 0, or 1 with the C++ exception's
// text in `err`, NUL-terminated and cut to fit (`ErrBuf` on the Rust side).
#pragma once

#include <cstddef>
#include <cstring>
#include <exception>

namespace charrnn {

inline void set_error(char* err, size_t len, const char* what) {
  if (err == nullptr || len == 0) return;
  std::strncpy(err, what, len - 1);
  err[len - 1] = '\0';
}

// Runs `f`, turning any C++ exception into 1 and its text in `err`.
template <typename F>
int guarded(char* err, size_t len, F f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    set_error(err, len, e.what());
  } catch (...) {
    set_error(err, len, "unknown C++ exception");
  }
  return 1;
}

}  // namespace charrnn
