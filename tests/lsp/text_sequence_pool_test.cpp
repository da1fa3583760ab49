// TextSequencePool (lsp/text_sequence_pool.h): the HTTP API's sequences,
// reused, capped, shared by the least used at the cap.
#include "lsp/text_sequence_pool.h"

#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace mtpc::lsp {
namespace {

using Sequence = TextSequencePool::Sequence;

// Counts the sequences made; fails the next make when told to.
struct Maker {
  int made = 0;
  bool fail = false;
  TextSequencePool::NewSequence fn() {
    return [this]() -> Result<std::unique_ptr<Sequence>> {
      if (fail) return Status::Error("out of cache memory");
      ++made;
      return std::make_unique<Sequence>();
    };
  }
};

TEST(TextSequencePool, AnIdleSequenceIsReusedNotMadeAgain) {
  TextSequencePool pool;
  Maker m;
  Result<Sequence*> a = pool.acquire(m.fn());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(pool.users(*a), 1);
  pool.release(*a);
  EXPECT_EQ(pool.users(*a), 0);
  Result<Sequence*> b = pool.acquire(m.fn());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, *a);
  EXPECT_EQ(m.made, 1);
  EXPECT_EQ(pool.size(), 1u);
}

TEST(TextSequencePool, ABusySequenceGetsACompanionUnderTheCap) {
  TextSequencePool pool;
  Maker m;
  Sequence* a = *pool.acquire(m.fn());
  Sequence* b = *pool.acquire(m.fn());
  EXPECT_NE(a, b);
  EXPECT_EQ(m.made, 2);
  // Once the first is answered, the next request takes it (least used).
  pool.release(a);
  EXPECT_EQ(*pool.acquire(m.fn()), a);
  EXPECT_EQ(m.made, 2);
  EXPECT_EQ(pool.users(a), 1);
  EXPECT_EQ(pool.users(b), 1);
}

TEST(TextSequencePool, AtTheCapOfSixteenRequestsShareTheLeastUsed) {
  TextSequencePool pool;
  EXPECT_EQ(pool.capacity(), 16u);
  Maker m;
  std::vector<Sequence*> seqs;
  for (int i = 0; i < 16; ++i) seqs.push_back(*pool.acquire(m.fn()));
  EXPECT_EQ(std::set<Sequence*>(seqs.begin(), seqs.end()).size(), 16u);
  EXPECT_EQ(m.made, 16);

  // All busy and at the cap: no 17th; the oldest of the equally used.
  Sequence* shared = *pool.acquire(m.fn());
  EXPECT_EQ(m.made, 16);
  EXPECT_EQ(pool.size(), 16u);
  EXPECT_EQ(shared, seqs[0]);
  EXPECT_EQ(pool.users(seqs[0]), 2);

  // The next goes to the least used, not the first again.
  EXPECT_EQ(*pool.acquire(m.fn()), seqs[1]);
  pool.release(seqs[9]);
  EXPECT_EQ(pool.users(seqs[9]), 0);
  EXPECT_EQ(*pool.acquire(m.fn()), seqs[9]);
  EXPECT_EQ(m.made, 16);
}

TEST(TextSequencePool, ACapacityOfOneSharesTheOneSequence) {
  TextSequencePool pool(1);
  Maker m;
  Sequence* a = *pool.acquire(m.fn());
  EXPECT_EQ(*pool.acquire(m.fn()), a);
  EXPECT_EQ(pool.users(a), 2);
  EXPECT_EQ(m.made, 1);
}

TEST(TextSequencePool, AFailedMakeLeavesThePoolAsItWas) {
  TextSequencePool pool;
  Maker m;
  m.fail = true;
  Result<Sequence*> r = pool.acquire(m.fn());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "out of cache memory");
  EXPECT_EQ(pool.size(), 0u);

  m.fail = false;
  Sequence* a = *pool.acquire(m.fn());
  m.fail = true;
  // a is busy and the pool is under the cap: a new one is tried and fails.
  EXPECT_FALSE(pool.acquire(m.fn()).ok());
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.users(a), 1);
  // Idle again: reused without making one.
  pool.release(a);
  Result<Sequence*> again = pool.acquire(m.fn());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, a);
}

TEST(TextSequencePool, ReleasingAStrangerOrAnIdleSequenceChangesNothing) {
  TextSequencePool pool;
  Maker m;
  Sequence* a = *pool.acquire(m.fn());
  Sequence stranger;
  pool.release(&stranger);
  pool.release(nullptr);
  EXPECT_EQ(pool.users(a), 1);
  EXPECT_EQ(pool.users(&stranger), 0);
  pool.release(a);
  pool.release(a);  // one release too many
  EXPECT_EQ(pool.users(a), 0);
  // Still counted right: one acquire makes it busy, so the next makes a second.
  EXPECT_EQ(*pool.acquire(m.fn()), a);
  EXPECT_NE(*pool.acquire(m.fn()), a);
  EXPECT_EQ(m.made, 2);
}

}  // namespace
}  // namespace mtpc::lsp
