// The one C++ file of charrnn: a C interface to PyTorch's own distributed engine (c10d), so
// that ranks rendezvous through a TCPStore and all-reduce over Gloo exactly as PyTorch DDP
// does. Built by build.rs against the libtorch headers of the wheel that setup installs; Gloo's
// headers come from Debian's libgloo-dev. Every function catches C++ exceptions and reports
// them as a message, never letting one cross into Rust.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <ATen/ATen.h>
#include <c10/util/Logging.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr auto kBeat = std::chrono::milliseconds(250);

std::string beat_key(int rank) { return "charrnn/heartbeat/" + std::to_string(rank); }

// A client of the group's store of its own (a TCPStore client is one connection).
c10::intrusive_ptr<c10d::TCPStore> client(const std::string& host, int port,
                                          std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(port);
  opts.isServer = false;
  opts.waitWorkers = false;
  opts.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(host, opts);
}

struct Group {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::string host;
  int port = 0;
  int rank = 0;
  int world = 0;
  // Every kBeat, this rank adds 1 to its heartbeat key, so that the others can tell which
  // rank is gone (or stopped) when a collective fails.
  std::atomic<bool> stop{false};
  std::thread beat;

  void start_beat() {
    beat = std::thread([this] {
      try {
        auto store = client(host, port, std::chrono::seconds(5));
        while (!stop.load()) {
          store->add(beat_key(rank), 1);
          for (int i = 0; i < 5 && !stop.load(); ++i) std::this_thread::sleep_for(kBeat / 5);
        }
      } catch (...) {
        // The store is gone (rank 0 ended): nothing left to tell.
      }
    });
  }

  ~Group() {
    stop.store(true);
    if (beat.joinable()) beat.join();
  }
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
  // c10d logs every failed connection and retry, with a stack trace, to stderr; charrnn
  // reports failures as one error line instead. TORCH_CPP_LOG_LEVEL set by the user wins.
  if (std::getenv("TORCH_CPP_LOG_LEVEL") == nullptr) FLAGS_caffe2_log_level = 3;  // FATAL
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
    group = new Group();
    group->store = store;
    group->pg = pg;
    group->host = host;
    group->port = port;
    group->rank = rank;
    group->world = world;
    group->start_beat();
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

// Which other ranks are gone: their heartbeats did not move in `wait_ms`. Writes up to
// `lost_len` ranks into `lost` and returns how many there are; returns -1 (with a message)
// when the store cannot be reached, which means rank 0, its server, is gone.
int charrnn_c10d_lost(void* group, long wait_ms, int* lost, int lost_len, char* err,
                      size_t err_len) {
  int count = -1;
  int rc = guarded(err, err_len, [&] {
    auto* g = static_cast<Group*>(group);
    auto store = client(g->host, g->port, std::chrono::milliseconds(2000));
    std::vector<int64_t> before(g->world, 0);
    for (int r = 0; r < g->world; ++r) {
      if (r != g->rank) before[r] = store->add(beat_key(r), 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    count = 0;
    for (int r = 0; r < g->world; ++r) {
      if (r == g->rank || store->add(beat_key(r), 0) != before[r]) continue;
      if (count < lost_len) lost[count] = r;
      ++count;
    }
  });
  return rc == 0 ? count : -1;
}

// Waits until every rank has called it.
int charrnn_c10d_barrier(void* group, char* err, size_t err_len) {
  return guarded(err, err_len, [&] { static_cast<Group*>(group)->pg->barrier()->wait(); });
}

}  // extern "C"
