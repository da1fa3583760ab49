// The c10d headers declare ProcessGroupGloo only under USE_C10D_GLOO (the
// symbols are in Debian's libtorch_cpu; Gloo's headers: libgloo-dev).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include "model/training/distributed.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef MTPC_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace mtpc {

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  std::chrono::milliseconds collective_timeout{0};
  bool nccl = false;  // NCCL reduces CUDA tensors only

  // Waits for `work`; a failure becomes a runtime_error that says which
  // operation and what probably happened.
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what, int rank) {
    try {
      work->wait(collective_timeout);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);  // drop c10's backtrace
      throw std::runtime_error("data-parallel " + std::string(what) + " failed on rank " +
                               std::to_string(rank) + " (another rank crashed, stopped or timed out after " +
                               std::to_string(collective_timeout.count() / 1000) + " s): " + msg);
    }
  }

  std::vector<double> reduce(const std::vector<double>& values, c10d::ReduceOp op, int rank) {
    auto t = torch::tensor(values, torch::kDouble);
    if (nccl) t = t.to(torch::kCUDA);
    std::vector<torch::Tensor> one = {t};
    c10d::AllreduceOptions opts;
    opts.reduceOp = op;
    opts.timeout = collective_timeout;
    wait(group->allreduce(one, opts), "loss all-reduce", rank);
    t = one[0].cpu().contiguous();
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
};

namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

std::string first_line(const std::exception& e) {
  std::string msg = e.what();
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

}  // namespace

DataParallel::DataParallel(DistributedEnv env, std::unique_ptr<Impl> impl)
    : env_(std::move(env)), impl_(std::move(impl)) {}

DataParallel::~DataParallel() = default;

Result<std::unique_ptr<DataParallel>> DataParallel::connect(const DistributedEnv& env,
                                                            const DistributedTimeouts& timeouts, bool cuda) {
  if (env.world_size < 1 || env.rank < 0 || env.rank >= env.world_size)
    return Status::Error("RANK " + std::to_string(env.rank) + " is not in [0, WORLD_SIZE " +
                         std::to_string(env.world_size) + ")");
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  auto impl = std::make_unique<Impl>();
  impl->collective_timeout = timeouts.collective;
  // torchrun's static rendezvous hosts the store in its agent and says so;
  // then every rank is a client, under the agent's per-attempt prefix (as
  // torch.distributed's own env:// start does).
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent && std::string(agent) == "True";
  const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0 && !agent_store;
    so.multiTenant = true;
    so.numWorkers = static_cast<std::size_t>(env.world_size);
    so.waitWorkers = true;  // rank 0 waits until every rank has connected
    so.timeout = timeouts.connect;
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    if (agent_store)
      impl->store = c10::make_intrusive<c10d::PrefixStore>(
          std::string("/worker/attempt_") + (attempt ? attempt : "0"), impl->store);
  } catch (const std::exception& e) {
    return Status::Error(std::string(env.rank == 0 ? "rank 0 could not host the rendezvous at " + where +
                                                         " or not every rank of " +
                                                         std::to_string(env.world_size) + " arrived"
                                                   : "rank " + std::to_string(env.rank) +
                                                         " cannot reach the master at " + where) +
                         " within --dist-connect-timeout " + std::to_string(timeouts.connect.count() / 1000) +
                         " s: " + first_line(e));
  }
  // Every rank checks in at the store, so that a missing rank is reported
  // within the connect timeout, whatever the process group's own waits do.
  try {
    const auto deadline = std::chrono::steady_clock::now() + timeouts.connect;
    int64_t joined = impl->store->add("mtpc/joined", 1);
    while (joined < env.world_size && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      joined = impl->store->add("mtpc/joined", 0);
    }
    if (joined < env.world_size)
      return Status::Error("rank " + std::to_string(env.rank) + ": only " + std::to_string(joined) + " of " +
                           std::to_string(env.world_size) + " ranks joined at " + where +
                           " within --dist-connect-timeout " + std::to_string(timeouts.connect.count() / 1000) +
                           " s");
  } catch (const std::exception& e) {
    return Status::Error("rank " + std::to_string(env.rank) + ": the rendezvous store at " + where +
                         " failed: " + first_line(e));
  }
  try {
    impl->store->setTimeout(timeouts.connect);
#ifdef MTPC_C10D_NCCL
    if (cuda) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeouts.collective;
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, options);
      impl->nccl = true;
    }
#endif
    if (!impl->group) {
      (void)cuda;  // Gloo all-reduces CUDA tensors too, through host copies
      auto options = c10d::ProcessGroupGloo::Options::create(timeouts.collective);
      // Loopback jobs bind to loopback; across machines Gloo binds to the
      // address this host's name resolves to, or to GLOO_SOCKET_IFNAME.
      if (!env.socket_ifname.empty())
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(env.socket_ifname));
      else if (is_loopback(env.master_addr))
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      options->threads = 2;
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, options);
    }
  } catch (const std::exception& e) {
    return Status::Error("rank " + std::to_string(env.rank) + ": not every rank of " +
                         std::to_string(env.world_size) + " joined the process group at " + where +
                         " within --dist-connect-timeout " + std::to_string(timeouts.connect.count() / 1000) +
                         " s: " + first_line(e));
  }
  return std::unique_ptr<DataParallel>(new DataParallel(env, std::move(impl)));
}

Result<DataParallel::Shard> DataParallel::shard(int global_batch) const {
  if (global_batch % env_.world_size != 0)
    return Status::Error("batch_size " + std::to_string(global_batch) +
                         " (the global batch) does not divide by WORLD_SIZE " + std::to_string(env_.world_size));
  const int per = global_batch / env_.world_size;
  return Shard{env_.rank * per, (env_.rank + 1) * per};
}

void DataParallel::allreduce_gradients(const std::vector<torch::Tensor>& parameters, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  // Buckets of consecutive parameters with the same dtype and device.
  std::vector<std::vector<torch::Tensor>> buckets;
  int64_t bytes = 0;
  for (const auto& p : parameters) {
    torch::Tensor g = p.grad();
    if (!g.defined()) {
      p.mutable_grad() = torch::zeros_like(p);
      g = p.grad();
    }
    const int64_t b = g.numel() * g.element_size();
    if (buckets.empty() || bytes + b > bucket_bytes || buckets.back()[0].scalar_type() != g.scalar_type() ||
        buckets.back()[0].device() != g.device()) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(g);
    bytes += b;
  }
  std::vector<torch::Tensor> flat;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (const auto& bucket : buckets) {
    std::vector<torch::Tensor> views;
    for (const auto& g : bucket) views.push_back(g.reshape({-1}));
    std::vector<torch::Tensor> one = {torch::cat(views)};
    flat.push_back(one[0]);
    c10d::AllreduceOptions opts;
    opts.timeout = impl_->collective_timeout;
    works.push_back(impl_->group->allreduce(one, opts));
  }
  const double scale = 1.0 / env_.world_size;
  for (size_t i = 0; i < buckets.size(); ++i) {
    impl_->wait(works[i], "gradient all-reduce", env_.rank);
    flat[i].mul_(scale);
    int64_t offset = 0;
    for (auto& g : buckets[i]) {
      g.copy_(flat[i].narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
  }
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    std::vector<torch::Tensor> one = {t.contiguous()};
    c10d::BroadcastOptions opts;
    opts.rootRank = 0;
    opts.timeout = impl_->collective_timeout;
    impl_->wait(impl_->group->broadcast(one, opts), "parameter broadcast", env_.rank);
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

std::vector<double> DataParallel::allreduce_sum(const std::vector<double>& values) {
  if (values.empty()) return values;
  return impl_->reduce(values, c10d::ReduceOp::SUM, env_.rank);
}

std::vector<double> DataParallel::allreduce_max(const std::vector<double>& values) {
  if (values.empty()) return values;
  return impl_->reduce(values, c10d::ReduceOp::MAX, env_.rank);
}

void DataParallel::allreduce_sum_inplace(const torch::Tensor& tensor) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> one = {tensor.is_contiguous() ? tensor : tensor.contiguous()};
  if (impl_->nccl && !tensor.is_cuda()) one[0] = tensor.to(torch::kCUDA);
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  opts.timeout = impl_->collective_timeout;
  impl_->wait(impl_->group->allreduce(one, opts), "all-reduce", env_.rank);
  if (!one[0].is_same(tensor)) tensor.copy_(one[0]);
}

void DataParallel::barrier() {
  c10d::BarrierOptions opts;
  opts.timeout = impl_->collective_timeout;
  impl_->wait(impl_->group->barrier(opts), "barrier", env_.rank);
}

}  // namespace mtpc
