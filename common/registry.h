// A name -> factory table (style.md rule 3). Registration is explicit: each
// family keeps one registry.cc that lists its members, so static linking can
// never drop a member and a newcomer finds the full list in one file. An
// unknown name fails with the list of every registered name.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/status.h"

namespace ecps {

template <typename T, typename... Args>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<T>(Args...)>;
  struct Entry {
    std::string name;
    std::string description;
    Factory factory;
  };

  void Register(std::string name, std::string description, Factory f) {
    entries_[name] = Entry{name, std::move(description), std::move(f)};
  }
  bool Has(const std::string& name) const { return entries_.count(name) > 0; }
  std::vector<std::string> Names() const {
    std::vector<std::string> n;
    for (const auto& [k, v] : entries_) n.push_back(k);
    return n;
  }
  const Entry* Find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  StatusOr<std::unique_ptr<T>> Create(const std::string& kind, const std::string& name,
                                      Args... args) const {
    auto it = entries_.find(name);
    if (it == entries_.end())
      return InvalidArgument("unknown ", kind, " '", name,
                             "'; registered: ", absl::StrJoin(Names(), ", "));
    return it->second.factory(std::forward<Args>(args)...);
  }

 private:
  std::map<std::string, Entry> entries_;
};

}  // namespace ecps
