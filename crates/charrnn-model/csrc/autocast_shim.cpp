// Automatic mixed precision ("autocast") for one device type, as `torch.autocast(device, dtype)`
// does: a C interface to ATen's thread-local autocast state, which tch 0.24 only reaches for
// CUDA and float16 (`tch::autocast`). build.rs compiles this file against libtorch's headers.
//
// Every function returns 0 on success, or -1 after an exception, whose text is then in
// `charrnn_autocast_error`.
#include <ATen/autocast_mode.h>

#include <cstring>
#include <exception>
#include <string>

namespace {

thread_local std::string last_error;

c10::DeviceType device_type(int device) {
  return device == 1 ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
}

c10::ScalarType scalar_type(int dtype) {
  return dtype == 1 ? c10::ScalarType::Half : c10::ScalarType::BFloat16;
}

template <typename F>
int guarded(F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return -1;
}

}  // namespace

extern "C" {

// Turns autocast on for `device` (0: CPU, 1: CUDA) with the lower precision `dtype`
// (0: bfloat16, 1: float16), and writes the state it replaces to `*was_enabled` and
// `*was_dtype` for `charrnn_autocast_exit`.
int charrnn_autocast_enter(int device, int dtype, int* was_enabled, int* was_dtype) {
  return guarded([&] {
    auto type = device_type(device);
    *was_enabled = at::autocast::is_autocast_enabled(type) ? 1 : 0;
    *was_dtype = static_cast<int>(at::autocast::get_autocast_dtype(type));
    at::autocast::set_autocast_dtype(type, scalar_type(dtype));
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::increment_nesting();
  });
}

// Restores the state `charrnn_autocast_enter` replaced, dropping the cache of cast weights
// when the outermost region ends (as `torch.autocast.__exit__` does).
int charrnn_autocast_exit(int device, int was_enabled, int was_dtype) {
  return guarded([&] {
    auto type = device_type(device);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(type, was_enabled != 0);
    at::autocast::set_autocast_dtype(type, static_cast<c10::ScalarType>(was_dtype));
  });
}

// Whether autocast is on for `device` in this thread (1 or 0), or -1.
int charrnn_autocast_enabled(int device) {
  int out = -1;
  guarded([&] { out = at::autocast::is_autocast_enabled(device_type(device)) ? 1 : 0; });
  return out;
}

// Copies the last error of this thread, NUL-terminated, into `buf` of `len` bytes.
void charrnn_autocast_error(char* buf, size_t len) {
  if (len == 0) return;
  size_t n = last_error.size() < len - 1 ? last_error.size() : len - 1;
  std::memcpy(buf, last_error.data(), n);
  buf[n] = '\0';
}

}  // extern "C"
