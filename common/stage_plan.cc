#include "common/stage_plan.h"

#include <cstring>

namespace ecps {
namespace {

constexpr char kReportTag[4] = {'S', 'T', 'G', '1'};
constexpr char kNextTag[4] = {'N', 'X', 'T', '1'};

}  // namespace

std::string EncodeStageReport(const StageReport& r) {
  std::string out(kReportTag, 4);
  out.append(reinterpret_cast<const char*>(&r.stage), 4);
  out.append(reinterpret_cast<const char*>(&r.num_stages), 4);
  return out;
}

bool IsStageReport(std::string_view bytes) {
  return bytes.size() == 12 && std::memcmp(bytes.data(), kReportTag, 4) == 0;
}

StatusOr<int32_t> DecideNextStage(const std::vector<std::string>& reports) {
  if (reports.empty()) return InvalidArgument("stage plan: no reports");
  StageReport first;
  for (size_t w = 0; w < reports.size(); ++w) {
    if (!IsStageReport(reports[w])) return InvalidArgument("stage plan: malformed report");
    StageReport r;
    std::memcpy(&r.stage, reports[w].data() + 4, 4);
    std::memcpy(&r.num_stages, reports[w].data() + 8, 4);
    if (r.stage < 0 || r.num_stages <= 0 || r.stage >= r.num_stages)
      return InvalidArgument("stage plan: worker ", w, " finished stage ", r.stage, " of ",
                             r.num_stages);
    if (w == 0) {
      first = r;
    } else if (r.stage != first.stage || r.num_stages != first.num_stages) {
      return InvalidArgument("stage plan: worker ", w, " finished stage ", r.stage, " of ",
                             r.num_stages, ", worker 0 stage ", first.stage, " of ",
                             first.num_stages);
    }
  }
  return first.stage + 1;
}

std::string EncodeNextStage(int32_t stage) {
  std::string out(kNextTag, 4);
  out.append(reinterpret_cast<const char*>(&stage), 4);
  return out;
}

StatusOr<int32_t> DecodeNextStage(std::string_view bytes) {
  if (bytes.size() != 8 || std::memcmp(bytes.data(), kNextTag, 4) != 0)
    return DataLoss("not a next-stage decision");
  int32_t stage = 0;
  std::memcpy(&stage, bytes.data() + 4, 4);
  return stage;
}

}  // namespace ecps
