#include "scheduler/job_identity.h"

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace ecps::scheduler {

bool ProcessLocalKey(const std::string& key) {
  return key.rfind("output.", 0) == 0 || key == "cluster.host" ||
         key == "cluster.register_timeout_ms";
}

uint64_t JobIdentity::Fingerprint() const {
  std::string canonical = "build=" + build + "\n";
  for (const auto& [k, v] : config) absl::StrAppend(&canonical, k, "=", v, "\n");
  return Checksum64(canonical.data(), canonical.size());
}

nlohmann::json JobIdentity::ToJson() const { return {{"build", build}, {"config", config}}; }

StatusOr<JobIdentity> JobIdentity::FromJson(const nlohmann::json& j) {
  JobIdentity id;
  if (!j.is_object() || !j.contains("build") || !j.at("build").is_string() ||
      !j.contains("config") || !j.at("config").is_object())
    return InvalidArgument("job identity needs a string 'build' and an object 'config'");
  id.build = j.at("build").get<std::string>();
  for (const auto& [k, v] : j.at("config").items()) {
    if (!v.is_string()) return InvalidArgument("job identity: config key '", k, "' is no string");
    id.config[k] = v.get<std::string>();
  }
  return id;
}

std::string FirstDifference(const JobIdentity& reference, const JobIdentity& node) {
  std::string first;
  int differing = 0;
  auto note = [&](const std::string& key, const std::string* there, const std::string* here) {
    ++differing;
    if (!first.empty()) return;
    auto show = [](const std::string* v) { return v ? absl::StrCat("'", *v, "'") : "not set"; };
    first = absl::StrCat("config key '", key, "' is ", show(there), " there, ", show(here),
                         " at the scheduler");
  };
  // Both maps are sorted: one merge finds the first key in key order.
  auto a = reference.config.begin(), b = node.config.begin();
  while (a != reference.config.end() || b != node.config.end()) {
    if (b == node.config.end() || (a != reference.config.end() && a->first < b->first)) {
      note(a->first, nullptr, &a->second);
      ++a;
    } else if (a == reference.config.end() || b->first < a->first) {
      note(b->first, &b->second, nullptr);
      ++b;
    } else {
      if (a->second != b->second) note(a->first, &b->second, &a->second);
      ++a;
      ++b;
    }
  }
  std::string out;
  if (!reference.build.empty() && !node.build.empty() && reference.build != node.build)
    out = absl::StrCat("build ", node.build, " there, ", reference.build, " at the scheduler");
  if (!first.empty()) {
    if (!out.empty()) out += "; ";
    absl::StrAppend(&out, first);
    if (differing > 1) absl::StrAppend(&out, " (", differing, " keys differ)");
  }
  return out;
}

}  // namespace ecps::scheduler
