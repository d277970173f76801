// The one C++ file of charrnn: a C interface to PyTorch's own distributed engine (c10d), so
// that ranks rendezvous through a TCPStore and all-reduce over Gloo (CPU tensors) and NCCL
// (CUDA tensors) exactly as PyTorch DDP does. Built by build.rs against the libtorch headers
// of the wheel that setup installs; Gloo's headers come from Debian's libgloo-dev; NCCL's and
// CUDA's from the wheel's nvidia packages (CHARRNN_NCCL is defined when they were all found).
// Every function catches C++ exceptions and reports them as a message, never letting one cross
// into Rust.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <ATen/ATen.h>
#include <c10/util/Logging.h>
#ifdef CHARRNN_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shim_error.h"

namespace {

constexpr auto kBeat = std::chrono::milliseconds(250);

std::string beat_key(int rank) { return "charrnn/heartbeat/" + std::to_string(rank); }
// How long a peer's heartbeat may stand still before the watch calls it gone: long enough
// that a loaded machine does not stop a healthy run, short against any collective timeout.
constexpr int64_t kSilenceMs = 10000;
// How often a rank waiting for a Gloo collective looks whether the watch stopped the group.
constexpr auto kPoll = std::chrono::milliseconds(250);

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
  // CPU tensors, and CUDA tensors (through host memory) when there is no NCCL group.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
#ifdef CHARRNN_NCCL
  // CUDA tensors, when the group was made for a CUDA device.
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  std::string host;
  int port = 0;
  int rank = 0;
  int world = 0;
  // Every kBeat, this rank adds 1 to its heartbeat key, so that the others can tell which
  // rank is gone (or stopped) when a collective fails.
  std::atomic<bool> stop{false};
  std::thread beat;
  // When the heartbeat thread last finished a round with the store (steady clock, ms): a
  // store call blocks, with no timeout, while rank 0 is stopped.
  std::atomic<int64_t> beat_ok{now_ms()};
  std::thread monitor;
  // Set when a collective failed or the watch stopped the group: NCCL's communicators are
  // aborted, and every later collective fails at once, with `why` when the watch knows it.
  std::atomic<bool> failed{false};
  mutable std::mutex why_mutex;
  std::string why;

  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  bool has_nccl() const {
#ifdef CHARRNN_NCCL
    return nccl.defined();
#else
    return false;
#endif
  }

  // A collective does not fail when a peer stops (SIGSTOP, a hung machine) until the group's
  // timeout, and an NCCL one not even when a peer dies: the kernel waits on the GPU. So every
  // rank of a group of two or more also watches the others' heartbeats, once a second, and
  // stops the group when one has stood still for kSilenceMs (a rank that ended, cleanly or not,
  // takes part in no more collectives, so stopping the group then changes nothing); and a
  // monitor stops it when the heartbeat thread itself has been stuck on rank 0's store for
  // as long. A rank waiting for a Gloo collective then stops waiting (`wait`), and NCCL's
  // communicators are aborted, which ends the waiting kernels and fails the next collective.
  void start_beat() {
    beat = std::thread([this] {
      std::vector<int64_t> last(world, 0);
      std::vector<int64_t> moved(world, now_ms());
      try {
        auto store = client(host, port, std::chrono::seconds(5));
        for (int tick = 0; !stop.load(); ++tick) {
          store->add(beat_key(rank), 1);
          if (world > 1 && tick % 4 == 3 && !failed.load()) watch(*store, last, moved);
          beat_ok.store(now_ms());
          for (int i = 0; i < 5 && !stop.load(); ++i) std::this_thread::sleep_for(kBeat / 5);
        }
      } catch (...) {
        // The store is gone: rank 0 ended. A group still running cannot go on without it.
        if (!stop.load()) fail(store_gone());
      }
    });
    if (world < 2) return;
    monitor = std::thread([this] {
      while (!stop.load() && !failed.load()) {
        if (now_ms() - beat_ok.load() > kSilenceMs) fail(store_gone());
        std::this_thread::sleep_for(kBeat);
      }
    });
  }

  std::string store_gone() const {
    return rank == 0 ? "the rendezvous store does not answer"
                     : "rank 0 is gone (its rendezvous store does not answer)";
  }

  void watch(c10d::TCPStore& store, std::vector<int64_t>& last, std::vector<int64_t>& moved) {
    const int64_t now = now_ms();
    for (int r = 0; r < world; ++r) {
      if (r == rank) continue;
      int64_t beats = store.add(beat_key(r), 0);
      if (beats != last[r]) {
        last[r] = beats;
        moved[r] = now;
      } else if (beats > 0 && now - moved[r] > kSilenceMs) {
        fail("rank " + std::to_string(r) + " is gone (no heartbeat for " +
             std::to_string(kSilenceMs / 1000) + " s)");
        return;
      }
    }
  }

  // Marks the group failed (saying why, when known) and aborts NCCL's communicators.
  void fail(const std::string& reason = "") {
    {
      std::lock_guard<std::mutex> lock(why_mutex);
      if (why.empty()) why = reason;
    }
    if (failed.exchange(true)) return;
#ifdef CHARRNN_NCCL
    if (nccl.defined()) {
      try {
        nccl->abort();
      } catch (...) {
      }
    }
#endif
  }

  std::string reason() const {
    std::lock_guard<std::mutex> lock(why_mutex);
    return why;
  }

  void check() const {
    if (!failed.load()) return;
    auto r = reason();
    throw std::runtime_error(r.empty() ? "the group was stopped after a failed collective" : r);
  }

  // Waits for a Gloo collective, looking every kPoll whether the watch stopped the group (the
  // collective's own timeout still ends the wait with its error).
  void wait(c10d::Work& work) const {
    while (true) {
      try {
        if (work.wait(kPoll)) return;
      } catch (...) {
        // c10d's work throws when the wait times out, and when the collective failed; only
        // the latter completes it.
        if (work.isCompleted()) throw;
      }
      if (work.isCompleted()) {
        work.wait();  // rethrows the collective's error, if any
        return;
      }
      check();
    }
  }

  ~Group() {
    stop.store(true);
    if (monitor.joinable()) monitor.join();
    if (beat.joinable()) beat.join();
#ifdef CHARRNN_NCCL
    if (nccl.defined()) {
      try {
        nccl->shutdown();  // flushes NCCL's work
      } catch (...) {
      }
    }
#endif
  }
};

// Runs a collective on `t` with the backend for its device: NCCL for a CUDA tensor when the
// group has it (ordered on the current CUDA stream, without blocking the host); otherwise
// Gloo, through a host copy for a CUDA tensor.
template <typename F>
void on_backend(Group& g, at::Tensor& t, F run) {
#ifdef CHARRNN_NCCL
  if (t.is_cuda() && g.nccl.defined()) {
    run(*g.nccl, t)->wait();
    return;
  }
#endif
  if (t.is_cuda()) {
    auto host = t.to(at::kCPU);
    g.wait(*run(*g.pg, host));
    t.copy_(host);
    return;
  }
  g.wait(*run(*g.pg, t));
}

// Runs one collective of a group that has not been stopped; a failure stops the group (the
// ranks are out of step after it), so every later collective fails at once.
template <typename F>
void collective(Group& g, F body) {
  g.check();
  try {
    body();
  } catch (...) {
    g.fail();
    throw;
  }
}

using charrnn::guarded;
using charrnn::set_error;

}  // namespace

extern "C" {

// Joins the group of `world` ranks whose TCPStore listens on host:port (rank 0 serves it).
// With `cuda_device` >= 0 the rank works on that GPU: it becomes the current device, and CUDA
// tensors are reduced with NCCL when this build has it. Returns null and a message in `err`
// on failure.
void* charrnn_c10d_new(int rank, int world, const char* host, int port, long timeout_ms,
                       int cuda_device, char* err, size_t err_len) {
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
    auto g = std::make_unique<Group>();
#ifdef CHARRNN_NCCL
    if (cuda_device >= 0) {
      int gpus = c10::cuda::device_count();
      if (cuda_device >= gpus) {
        throw std::runtime_error("NCCL cannot use cuda:" + std::to_string(cuda_device) +
                                 ": this machine has " + std::to_string(gpus) + " GPU(s)");
      }
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(cuda_device));
      auto nopts = c10d::ProcessGroupNCCL::Options::create();
      nopts->timeout = timeout;
      // Its keys apart from Gloo's, as torch.distributed keeps a group's backends apart.
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("cuda/", store);
      g->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, world, nopts);
    }
#else
    (void)cuda_device;
#endif
    group = g.release();
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

// Ends this rank's membership. After a failure the group is left to the process's end
// instead: its heartbeat thread may be blocked on a stopped rank 0's store, and Gloo's
// worker on a stopped peer, and destroying either would wait for them.
void charrnn_c10d_free(void* group) {
  auto* g = static_cast<Group*>(group);
  if (g->failed.load()) {
    g->stop.store(true);
    return;
  }
  delete g;
}

// Why the group was stopped, when the watch knows (a rank that stopped beating, or rank 0's
// store); writes it into `why` and returns 1, or returns 0.
int charrnn_c10d_stopped(void* group, char* why, size_t why_len) {
  auto reason = static_cast<Group*>(group)->reason();
  if (reason.empty()) return 0;
  set_error(why, why_len, reason.c_str());
  return 1;
}

// Whether the group reduces CUDA tensors with NCCL (1) or through the host with Gloo (0).
int charrnn_c10d_has_nccl(void* group) { return static_cast<Group*>(group)->has_nccl() ? 1 : 0; }

// Sums `tensor` (an at::Tensor*, as tch passes them) over the ranks, in place; divides by
// the world size when `average`.
int charrnn_c10d_allreduce(void* group, void* tensor, int average, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    auto* g = static_cast<Group*>(group);
    auto& t = *static_cast<at::Tensor*>(tensor);
    collective(*g, [&] {
      on_backend(*g, t, [](c10d::Backend& b, at::Tensor& x) {
        std::vector<at::Tensor> ts = {x};
        return b.allreduce(ts);
      });
    });
    if (average) t.div_(g->world);
  });
}

// Copies rank `root`'s `tensor` into every rank's, in place.
int charrnn_c10d_broadcast(void* group, void* tensor, int root, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    auto* g = static_cast<Group*>(group);
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    collective(*g, [&] {
      on_backend(*g, *static_cast<at::Tensor*>(tensor), [&](c10d::Backend& b, at::Tensor& x) {
        std::vector<at::Tensor> ts = {x};
        return b.broadcast(ts, opts);
      });
    });
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
  return guarded(err, err_len, [&] {
    auto* g = static_cast<Group*>(group);
    collective(*g, [&] { g->wait(*g->pg->barrier()); });
  });
}

}  // extern "C"
