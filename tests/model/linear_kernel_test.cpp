#include "model/network/linear_kernel.h"

#include <gtest/gtest.h>

#include "model/network/network.h"

namespace mtpc {
namespace {

// Widths with K % 16 != 0, K % 8 != 0 and N % 6 != 0 exercise the tails.
struct Shape { int64_t n, k; };
const Shape kShapes[] = {{704, 256}, {256, 704}, {262, 256}, {13, 21}, {5, 3}, {1, 8}, {9, 1}, {7, 24}, {20, 40}};

// The instruction sets this CPU runs: both kernels are tested where both run.
std::vector<LinearKernelIsa> isas() {
  std::vector<LinearKernelIsa> out;
  for (auto isa : {LinearKernelIsa::kAvx2, LinearKernelIsa::kAvx512})
    if (linear_kernel_isa_available(isa)) out.push_back(isa);
  return out;
}
const char* name(LinearKernelIsa isa) { return isa == LinearKernelIsa::kAvx2 ? "avx2" : "avx512"; }

TEST(LinearKernel, MatchesTorchLinear) {
  if (!linear_kernel_available()) GTEST_SKIP() << "no AVX2/FMA on this CPU: torch's linear is used";
  EXPECT_TRUE(linear_kernel_isa_available(linear_kernel_isa()));
  torch::manual_seed(3);
  for (LinearKernelIsa isa : isas())
    for (const Shape& s : kShapes)
      for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 33}) {
        auto x = torch::randn({m, s.k});
        auto w = torch::randn({s.n, s.k});
        auto y = torch::empty({m, s.n});
        linear_kernel_with(isa, x.data_ptr<float>(), w.data_ptr<float>(), y.data_ptr<float>(), m, s.n, s.k, 0, s.n);
        auto want = torch::nn::functional::linear(x.to(torch::kFloat64), w.to(torch::kFloat64));
        const double err = (y.to(torch::kFloat64) - want).abs().max().item<double>();
        EXPECT_LE(err, 1e-4 * std::sqrt(static_cast<double>(s.k))) << name(isa) << " " << s.n << "x" << s.k << " m=" << m;
      }
}

// int8 weights: the product equals the fp64 product with the dequantised
// weights (scale * q) up to float rounding, in every shape and row count.
TEST(LinearKernel, Int8WeightsMatchTheirDequantisedProduct) {
  if (!linear_kernel_available()) GTEST_SKIP() << "no AVX2/FMA on this CPU: torch's linear is used";
  torch::manual_seed(6);
  for (LinearKernelIsa isa : isas())
  for (const Shape& s : kShapes)
    for (int64_t m : {1, 2, 3, 4, 5, 9}) {
      auto x = torch::randn({m, s.k});
      auto q = torch::randint(-127, 128, {s.n, s.k}).to(torch::kInt8);
      auto scale = torch::rand({s.n}) * 0.01;
      scale[0] = 0;  // an all-zero row quantises to scale 0
      auto y = torch::empty({m, s.n});
      linear_kernel_q8_with(isa, x.data_ptr<float>(), q.data_ptr<int8_t>(), scale.data_ptr<float>(),
                            y.data_ptr<float>(), m, s.n, s.k);
      auto dequantised = q.to(torch::kFloat64) * scale.to(torch::kFloat64).unsqueeze(1);
      auto want = torch::nn::functional::linear(x.to(torch::kFloat64), dequantised);
      const double err = (y.to(torch::kFloat64) - want).abs().max().item<double>();
      EXPECT_LE(err, 1e-3 * std::sqrt(static_cast<double>(s.k))) << name(isa) << " " << s.n << "x" << s.k << " m=" << m;
      EXPECT_TRUE(torch::all(y.select(1, 0) == 0).item<bool>());
    }
}

// The property decoding relies on: a row's result is the same bits whatever
// rows share the call and however the columns are split.
TEST(LinearKernel, RowsAreBitIdenticalWhateverTheBatch) {
  if (!linear_kernel_available()) GTEST_SKIP() << "no AVX2/FMA on this CPU: torch's linear is used";
  torch::manual_seed(4);
  for (LinearKernelIsa isa : isas())
  for (const Shape& s : kShapes) {
    const int64_t m = 37;
    auto x = torch::randn({m, s.k});
    auto w = torch::randn({s.n, s.k});
    auto all = torch::empty({m, s.n});
    linear_kernel_with(isa, x.data_ptr<float>(), w.data_ptr<float>(), all.data_ptr<float>(), m, s.n, s.k, 0, s.n);
    // Every row alone, and rows in runs of every length 1..9 at odd offsets.
    for (int64_t run = 1; run <= 9; ++run)
      for (int64_t start = 0; start + run <= m; start += run + 2) {
        auto part = x.narrow(0, start, run).contiguous();
        auto y = torch::empty({run, s.n});
        linear_kernel_with(isa, part.data_ptr<float>(), w.data_ptr<float>(), y.data_ptr<float>(), run, s.n, s.k, 0, s.n);
        EXPECT_TRUE(torch::equal(y, all.narrow(0, start, run)))
            << name(isa) << " " << s.n << "x" << s.k << " rows " << start << "+" << run;
      }
    // Columns computed in uneven pieces, as threads would.
    auto split = torch::empty({m, s.n});
    for (int64_t b = 0; b < s.n; b += 3)
      linear_kernel_with(isa, x.data_ptr<float>(), w.data_ptr<float>(), split.data_ptr<float>(), m, s.n, s.k, b,
                         std::min(s.n, b + 3));
    EXPECT_TRUE(torch::equal(split, all)) << name(isa) << " " << s.n << "x" << s.k;
  }
}

// linear_apply: the kernel under InferenceMode (any leading shape, any
// thread count), torch's linear with autograd — gradients still flow.
TEST(LinearKernel, LinearApplyPicksThePathByMode) {
  torch::manual_seed(5);
  auto w = torch::randn({40, 24}, torch::requires_grad());
  auto x = torch::randn({2, 5, 24});
  auto trained = linear_apply(x, w);
  ASSERT_TRUE(trained.requires_grad());
  trained.sum().backward();
  EXPECT_TRUE(w.grad().defined());
  c10::InferenceMode guard;
  auto one = linear_apply(x, w.detach());
  EXPECT_EQ(one.sizes(), (std::vector<int64_t>{2, 5, 40}));
  EXPECT_TRUE(torch::allclose(one, trained.detach(), 1e-4, 1e-4));
  {
    // A prefill-sized product is split across threads: same bits as one thread.
    auto big_x = torch::randn({64, 256});
    auto big_w = torch::randn({520, 256});
    const int threads = torch::get_num_threads();
    torch::set_num_threads(2);
    auto two_threads = linear_apply(big_x, big_w);
    torch::set_num_threads(1);
    auto one_thread = linear_apply(big_x, big_w);
    torch::set_num_threads(threads);
    EXPECT_TRUE(torch::equal(one_thread, two_threads));
    EXPECT_TRUE(torch::allclose(one_thread, torch::nn::functional::linear(big_x, big_w), 1e-3, 1e-3));
  }
  // Rows fed one at a time give the bits of the whole call.
  auto flat = x.reshape({10, 24});
  for (int64_t r = 0; r < 10; ++r)
    EXPECT_TRUE(torch::equal(linear_apply(flat.narrow(0, r, 1), w.detach()), one.reshape({10, 40}).narrow(0, r, 1)));
  EXPECT_THROW(linear_apply(torch::randn({3, 23}), w.detach()), c10::Error);  // width mismatch
}

}  // namespace
}  // namespace mtpc
