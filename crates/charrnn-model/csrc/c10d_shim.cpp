// The one C++ file of charrnn: a C interface to PyTorch's own distributed engine (c10d), so
// that ranks rendezvous through a TCPStore and all-reduce over Gloo exactly as PyTorch DDP
// does. Built by build.rs against the libtorch headers of the wheel that setup installs; Gloo's
// headers come from Debian's libgloo-dev. Every function catches C++ exceptions and reports
// them as a message, never letting one cross into Rust.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <ATen/ATen.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <string>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

void set_error(char* err, size_t len, const char* what) {
  if (err == nullptr || len == 0) return;
  std::strncpy(err, what, len - 1);
  err[len - 1] = '\0';
}

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

}  // namespace

extern "C" {

// Joins the group of `world` ranks whose TCPStore listens on host:port (rank 0 serves it).
// Returns null and a message in `err` on failure.
void* charrnn_c10d_new(int rank, int world, const char* host, int port, long timeout_ms,
                       char* err, size_t err_len) {
  Group* group = nullptr;
  int rc = guarded(err, err_len, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<uint16_t>(port);
    opts.isServer = rank == 0;
    opts.numWorkers = world;
    opts.waitWorkers = true;
    opts.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(host, opts);
    auto gopts = c10d::ProcessGroupGloo::Options::create(timeout);
    gopts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, gopts);
    group = new Group{store, pg};
  });
  return rc == 0 ? group : nullptr;
}

void charrnn_c10d_free(void* group) { delete static_cast<Group*>(group); }

// Sums `tensor` (an at::Tensor*, as tch passes them) over the ranks, in place; divides by
// the world size when `average`.
int charrnn_c10d_allreduce(void* group, void* tensor, int average, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    auto* g = static_cast<Group*>(group);
    auto& t = *static_cast<at::Tensor*>(tensor);
    std::vector<at::Tensor> ts = {t};
    g->pg->allreduce(ts)->wait();
    if (average) t.div_(g->pg->getSize());
  });
}

// Copies rank `root`'s `tensor` into every rank's, in place.
int charrnn_c10d_broadcast(void* group, void* tensor, int root, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    auto* g = static_cast<Group*>(group);
    std::vector<at::Tensor> ts = {*static_cast<at::Tensor*>(tensor)};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    g->pg->broadcast(ts, opts)->wait();
  });
}

// Waits until every rank has called it.
int charrnn_c10d_barrier(void* group, char* err, size_t err_len) {
  return guarded(err, err_len, [&] { static_cast<Group*>(group)->pg->barrier()->wait(); });
}

}  // extern "C"
