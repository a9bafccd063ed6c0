#include "common/params.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/check.h"

namespace ecps {
namespace {

const char* TypeName(ParamType t) {
  switch (t) {
    case ParamType::kInt:
      return "int";
    case ParamType::kFloat:
      return "float";
    case ParamType::kBool:
      return "bool";
    case ParamType::kString:
      return "string";
  }
  return "?";
}

std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec == std::errc::result_out_of_range) return std::nullopt;  // beyond int64
  if (ec != std::errc() || p != e) {
    // Accept integral floats written as 1e6 or 128.0. Only finite values
    // inside int64 convert (a cast of anything else is undefined).
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !std::isfinite(d) || d < -0x1p63 || d >= 0x1p63 ||
        d != std::trunc(d))
      return std::nullopt;
    return static_cast<int64_t>(d);
  }
  return v;
}

// Finite numbers only: strtod also reads "nan", "inf" and "infinity", which
// compare false against every bound and would pass any range check.
std::optional<double> ParseFloat(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<bool> ParseBool(const std::string& s) {
  if (s == "true" || s == "True" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "False" || s == "0" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::string FormatNumber(double v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

// Limits on a YAML document, far above any config (ecps has ~100 keys,
// nested 4 deep) and far below what hurts: yaml-cpp keeps an alias as a
// reference to its anchor, so a few hundred bytes of nested aliases stand
// for billions of nodes, and it is the walk below that would expand them.
constexpr size_t kMaxYamlBytes = 1 << 20;
constexpr int kMaxYamlDepth = 32;
constexpr size_t kMaxYamlNodes = 100000;

const char* NodeKind(const YAML::Node& node) {
  if (node.IsSequence()) return "a sequence";
  if (node.IsMap()) return "a mapping";
  if (node.IsNull()) return "empty";
  return "a scalar";
}

struct FlattenState {
  std::string origin;
  std::map<std::string, std::string>* out;
  std::map<std::string, int> lines = {};  // where each flattened key was given
  size_t nodes = 0;
  Status status = OkStatus();
};

void Flatten(const YAML::Node& node, const std::string& prefix, int depth, FlattenState* st) {
  if (!st->status.ok()) return;
  auto fail = [&](const YAML::Node& at, auto&&... what) {
    st->status = InvalidArgument(st->origin, ":", at.Mark().line + 1, ": ", what...);
  };
  if (++st->nodes > kMaxYamlNodes)
    return fail(node, "more than ", kMaxYamlNodes,
                " YAML nodes (aliases expand to copies of their anchor); a config has a few "
                "hundred");
  if (depth > kMaxYamlDepth)
    return fail(node, "key '", prefix, "' is nested more than ", kMaxYamlDepth, " levels deep");
  if (node.IsMap()) {
    for (const auto& kv : node) {
      // A complex key (`? [a, b]`) or an empty one names no config key; its
      // text would be an exception thrown out of here.
      if (!kv.first.IsScalar())
        return fail(kv.first, "a key ", prefix.empty() ? "" : "under '" + prefix + "' ", "is ",
                    NodeKind(kv.first), "; config keys are plain names");
      const std::string key = kv.first.Scalar();
      Flatten(kv.second, prefix.empty() ? key : prefix + "." + key, depth + 1, st);
      if (!st->status.ok()) return;
    }
  } else if (node.IsScalar() || node.IsNull()) {
    // A key given twice (`train: {lr: 1}` and later `train.lr: 2`, or the
    // same key repeated in one mapping) would silently keep the last value.
    const int line = node.Mark().line + 1;
    if (auto [it, fresh] = st->lines.emplace(prefix, line); !fresh)
      return fail(node, "key '", prefix, "' is given twice (first at line ", it->second, ")");
    (*st->out)[prefix] = node.IsNull() ? "" : node.Scalar();
  } else {
    fail(node, "key '", prefix, "' must be a scalar or a mapping");
  }
}

}  // namespace

ParamSchema& ParamSchema::Add(ParamSpec spec) {
  ECPS_CHECK(Find(spec.key) == nullptr) << "parameter declared twice: " << spec.key;
  specs_.push_back(std::move(spec));
  return *this;
}

ParamSchema& ParamSchema::Int(const std::string& key, int64_t def, int64_t min, int64_t max,
                              const std::string& desc) {
  return Add({key,
              ParamType::kInt,
              std::to_string(def),
              static_cast<double>(min),
              static_cast<double>(max),
              {},
              desc,
              false});
}
ParamSchema& ParamSchema::Float(const std::string& key, double def, double min, double max,
                                const std::string& desc) {
  return Add({key, ParamType::kFloat, FormatNumber(def), min, max, {}, desc, false});
}
ParamSchema& ParamSchema::Bool(const std::string& key, bool def, const std::string& desc) {
  return Add({key, ParamType::kBool, def ? "true" : "false", 0, 0, {}, desc, false});
}
ParamSchema& ParamSchema::String(const std::string& key, const std::string& def,
                                 const std::string& desc, std::vector<std::string> choices) {
  return Add({key, ParamType::kString, def, 0, 0, std::move(choices), desc, false});
}

const ParamSpec* ParamSchema::Find(const std::string& key) const {
  for (const auto& s : specs_)
    if (s.key == key) return &s;
  return nullptr;
}

std::string ParamSchema::Help(const std::string& indent, const std::string& key_prefix) const {
  std::ostringstream os;
  for (const auto& s : specs_) {
    os << indent << key_prefix << s.key << " (" << TypeName(s.type) << ", default "
       << (s.default_value.empty() ? "\"\"" : s.default_value);
    if (s.type == ParamType::kInt || s.type == ParamType::kFloat) {
      if (s.min > -1e299) os << ", min " << FormatNumber(s.min);
      if (s.max < 1e299) os << ", max " << FormatNumber(s.max);
    }
    if (!s.choices.empty()) os << ", one of " << absl::StrJoin(s.choices, "|");
    os << ")\n" << indent << "    " << s.description << "\n";
  }
  return os.str();
}

Status CheckParamValue(const ParamSpec& spec, const std::string& value) {
  auto bad = [&](const std::string& expected) {
    return InvalidArgument("config key '", spec.key, "': value '", value, "' is not ", expected);
  };
  switch (spec.type) {
    case ParamType::kInt: {
      auto v = ParseInt(value);
      if (!v) return bad("an integer (within the 64-bit range)");
      if (*v < spec.min || *v > spec.max)
        return bad(absl::StrCat("in [", FormatNumber(spec.min), ", ", FormatNumber(spec.max), "]"));
      return OkStatus();
    }
    case ParamType::kFloat: {
      auto v = ParseFloat(value);
      if (!v) return bad("a finite number");
      if (*v < spec.min || *v > spec.max)
        return bad(absl::StrCat("in [", FormatNumber(spec.min), ", ", FormatNumber(spec.max), "]"));
      return OkStatus();
    }
    case ParamType::kBool:
      if (!ParseBool(value)) return bad("a boolean (true/false)");
      return OkStatus();
    case ParamType::kString:
      if (!spec.choices.empty()) {
        for (const auto& c : spec.choices)
          if (c == value) return OkStatus();
        return bad(absl::StrCat("one of: ", absl::StrJoin(spec.choices, ", ")));
      }
      return OkStatus();
  }
  return OkStatus();
}

Status ParamSet::Set(const std::string& key, const std::string& value) {
  ECPS_CHECK(schema_ != nullptr);
  const ParamSpec* spec = schema_->Find(key);
  if (spec == nullptr) {
    std::vector<std::string> near;
    std::string section = key.substr(0, key.find('.'));
    for (const auto& s : schema_->specs())
      if (s.key.rfind(section + ".", 0) == 0) near.push_back(s.key);
    return InvalidArgument(
        "unknown config key '", key, "'",
        near.empty() ? std::string()
                     : absl::StrCat(" (keys in '", section, "': ", absl::StrJoin(near, ", "), ")"));
  }
  RETURN_IF_ERROR(CheckParamValue(*spec, value));
  values_[key] = value;
  return OkStatus();
}

Status ParamSet::ApplyOverrides(const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      return InvalidArgument("--set '", a, "': expected key=value");
    RETURN_IF_ERROR(Set(a.substr(0, eq), a.substr(eq + 1)));
  }
  return OkStatus();
}

Status ParamSet::Validate() const {
  for (const auto& s : schema_->specs())
    if (s.required && !values_.count(s.key))
      return InvalidArgument("config key '", s.key, "' is required: ", s.description);
  return OkStatus();
}

bool ParamSet::Has(const std::string& key) const { return values_.count(key) > 0; }

std::string ParamSet::Raw(const std::string& key) const {
  auto it = values_.find(key);
  if (it != values_.end()) return it->second;
  const ParamSpec* spec = schema_ ? schema_->Find(key) : nullptr;
  ECPS_CHECK(spec != nullptr) << "undeclared parameter read: " << key;
  return spec->default_value;
}

int64_t ParamSet::GetInt(const std::string& key) const {
  auto v = ParseInt(Raw(key));
  ECPS_CHECK(v.has_value()) << key;
  return *v;
}
double ParamSet::GetFloat(const std::string& key) const {
  auto v = ParseFloat(Raw(key));
  ECPS_CHECK(v.has_value()) << key;
  return *v;
}
bool ParamSet::GetBool(const std::string& key) const {
  auto v = ParseBool(Raw(key));
  ECPS_CHECK(v.has_value()) << key;
  return *v;
}
std::string ParamSet::GetString(const std::string& key) const { return Raw(key); }

namespace {
struct YamlTree {
  std::map<std::string, YamlTree> kids;
  std::string value;
};
void EmitTree(const YamlTree& t, YAML::Emitter* out) {
  *out << YAML::BeginMap;
  for (const auto& [k, v] : t.kids) {
    *out << YAML::Key << k << YAML::Value;
    if (v.kids.empty()) {
      *out << v.value;
    } else {
      EmitTree(v, out);
    }
  }
  *out << YAML::EndMap;
}
}  // namespace

std::map<std::string, std::string> ParamSet::EffectiveValues() const {
  std::map<std::string, std::string> out;
  for (const auto& s : schema_->specs()) out[s.key] = Raw(s.key);
  return out;
}

std::string ParamSet::ToYaml() const { return NestedYaml(EffectiveValues()); }

std::string NestedYaml(const std::map<std::string, std::string>& flat) {
  YamlTree root;
  for (const auto& [key, value] : flat) {
    std::vector<std::string> parts = absl::StrSplit(key, '.');
    YamlTree* cur = &root;
    for (const auto& part : parts) cur = &cur->kids[part];
    cur->value = value;
  }
  YAML::Emitter out;
  EmitTree(root, &out);
  return std::string(out.c_str()) + "\n";
}

StatusOr<std::map<std::string, std::string>> FlattenYaml(const std::string& text,
                                                         const std::string& origin) {
  if (text.size() > kMaxYamlBytes)
    return InvalidArgument(origin, ": ", text.size(), " bytes; a config may have at most ",
                           kMaxYamlBytes, " bytes");
  std::map<std::string, std::string> out;
  FlattenState st{origin, &out};
  try {
    // yaml-cpp's parser refuses nesting beyond its own depth guard with a
    // ParserException (caught below), before the walk's limits apply.
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) return out;
    if (!root.IsMap()) return InvalidArgument(origin, ": top level must be a mapping");
    Flatten(root, "", 0, &st);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(origin, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(origin, ": unreadable YAML: ", e.what());
  }
  RETURN_IF_ERROR(st.status);
  return out;
}

}  // namespace ecps
