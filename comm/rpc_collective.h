// Collectives over the point-to-point transport, rooted at one node (the
// scheduler in a multi-process job): every member sends its contribution to
// the root as a kCollective request; once all members of the group have sent
// the same operation, the root combines them and replies to each.
//
// Reductions sum in rank order starting from rank 0's values, exactly as the
// in-process group does (comm/collective.h), so a multi-process run reproduces
// a simulated one bit for bit.
//
// Wire (kCollective): step = sequence number of the operation in this group,
// arg = CollectiveOp, arg2 = member rank, text = broadcast root (decimal),
// payload 0 = the contribution. kCollectiveReply: payload 0 = the result
// (allgather: payload r = member r's contribution).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "comm/collective.h"
#include "comm/rpc.h"
#include "common/mutex.h"

namespace ecps::comm {

// Values reach the wire: never renumber.
enum class CollectiveOp : int64_t {
  kSumF32 = 1,
  kSumF64 = 2,
  kBroadcast = 3,
  kAllgather = 4,
  kBarrier = 5,
  kDecide = 6,  // the root's Decider maps the contributions to one reply for all
};

// A member of a group of `size` whose root is node `root` reachable through
// `rpc` (started; must outlive the member). timeout_ms < 0 waits forever (a
// failed member is then detected by heartbeats and the job aborted).
std::unique_ptr<Collective> NewRpcCollective(Rpc* rpc, int root, int rank, int size,
                                             int timeout_ms = -1);

// The root's side: fed every kCollective request; replies through `send`.
// Thread-safe (OnMessage may be called from several threads).
class CollectiveRoot {
 public:
  using SendFn = std::function<void(int node, Message reply)>;
  // `decider` answers kDecide (Collective::Decide); null: kDecide fails.
  CollectiveRoot(int size, SendFn send, Decider decider = nullptr);

  // Takes one contribution. A malformed one (bad rank, op or size mismatch
  // with the other members) is answered with a kError reply, and every
  // member of that operation gets the error too.
  void OnMessage(Message m);
  // Answers every pending and future contribution with a kError naming `why`.
  void Abort(const std::string& why);

 private:
  struct Pending {
    std::vector<Message> parts;  // by rank
    int arrived = 0;
  };
  // Both run without mu_: they send, and the decider may take long.
  void Complete(int64_t seq, Pending p) ABSL_LOCKS_EXCLUDED(mu_);
  void Fail(Pending p, const Status& s) ABSL_LOCKS_EXCLUDED(mu_);

  const int size_;
  SendFn send_;
  Decider decider_;
  Mutex mu_;
  std::map<int64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);  // by sequence number
  std::string aborted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ecps::comm
