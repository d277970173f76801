// Automatic mixed precision ("autocast") for one device type, as `torch.autocast(device, dtype)`
// does: a C interface to ATen's thread-local autocast state, which tch 0.24 only reaches for
// CUDA and float16 (`tch::autocast`). build.rs compiles this file against libtorch's headers.
//
// Every function returns 0, or 1 with the C++ exception's text in `err` (shim_error.h).
#include <ATen/autocast_mode.h>

#include "shim_error.h"

namespace {

c10::DeviceType device_type(int device) {
  return device == 1 ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
}

c10::ScalarType scalar_type(int dtype) {
  return dtype == 1 ? c10::ScalarType::Half : c10::ScalarType::BFloat16;
}

}  // namespace

extern "C" {

// Turns autocast on for `device` (0: CPU, 1: CUDA) with the lower precision `dtype`
// (0: bfloat16, 1: float16), and writes the state it replaces to `*was_enabled` and
// `*was_dtype` for `charrnn_autocast_exit`.
int charrnn_autocast_enter(int device, int dtype, int* was_enabled, int* was_dtype, char* err,
                           size_t err_len) {
  return charrnn::guarded(err, err_len, [&] {
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
int charrnn_autocast_exit(int device, int was_enabled, int was_dtype, char* err,
                          size_t err_len) {
  return charrnn::guarded(err, err_len, [&] {
    auto type = device_type(device);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(type, was_enabled != 0);
    at::autocast::set_autocast_dtype(type, static_cast<c10::ScalarType>(was_dtype));
  });
}

// Writes whether autocast is on for `device` in this thread (1 or 0) to `*enabled`.
int charrnn_autocast_enabled(int device, int* enabled, char* err, size_t err_len) {
  return charrnn::guarded(err, err_len, [&] {
    *enabled = at::autocast::is_autocast_enabled(device_type(device)) ? 1 : 0;
  });
}

}  // extern "C"
