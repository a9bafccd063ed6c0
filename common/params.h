// Declared parameters: every tunable knob is declared once with its type,
// default, bounds and description (style.md rule 6, xgboost's
// DMLC_DECLARE_FIELD). One declaration gives defaults, validation with errors
// that name the key, `--help` text and a YAML round trip.
//
// Keys are dotted paths ("train.batch_size"). A ParamSet holds validated
// values for one ParamSchema. Thread-safety: const methods are safe to call
// concurrently; mutation is not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps {

enum class ParamType : uint8_t { kInt = 0, kFloat = 1, kBool = 2, kString = 3 };

struct ParamSpec {
  std::string key;
  ParamType type = ParamType::kString;
  std::string default_value;         // textual; "" with required=true means no default
  double min = -1e300, max = 1e300;  // inclusive bounds for kInt / kFloat
  std::vector<std::string> choices;  // allowed values for kString (empty: any)
  std::string description;
  bool required = false;
};

class ParamSchema {
 public:
  // Builders; each returns *this so declarations read as a list.
  ParamSchema& Int(const std::string& key, int64_t def, int64_t min, int64_t max,
                   const std::string& desc);
  ParamSchema& Float(const std::string& key, double def, double min, double max,
                     const std::string& desc);
  ParamSchema& Bool(const std::string& key, bool def, const std::string& desc);
  ParamSchema& String(const std::string& key, const std::string& def, const std::string& desc,
                      std::vector<std::string> choices = {});
  ParamSchema& Add(ParamSpec spec);

  const ParamSpec* Find(const std::string& key) const;
  const std::vector<ParamSpec>& specs() const { return specs_; }

  // Two lines per parameter: `indent` + `key_prefix` + key with type, default
  // and bounds/choices; then the description, indented further.
  std::string Help(const std::string& indent = "  ", const std::string& key_prefix = "") const;

 private:
  std::vector<ParamSpec> specs_;
};

class ParamSet {
 public:
  ParamSet() = default;
  explicit ParamSet(const ParamSchema* schema) : schema_(schema) {}

  // Sets `key` from text after validating it against the schema. The error
  // names the key, the offending value and what was expected.
  Status Set(const std::string& key, const std::string& value);

  // Applies "key=value" strings (command-line --set overrides).
  Status ApplyOverrides(const std::vector<std::string>& assignments);

  // Checks that every required key has a value.
  Status Validate() const;

  bool Has(const std::string& key) const;
  int64_t GetInt(const std::string& key) const;
  double GetFloat(const std::string& key) const;
  bool GetBool(const std::string& key) const;
  std::string GetString(const std::string& key) const;

  // Explicitly set values (not defaults), sorted by key.
  const std::map<std::string, std::string>& values() const { return values_; }
  // Every schema key with its effective value (defaults included).
  std::map<std::string, std::string> EffectiveValues() const;
  // EffectiveValues() as a nested YAML document.
  std::string ToYaml() const;
  const ParamSchema* schema() const { return schema_; }

 private:
  std::string Raw(const std::string& key) const;
  const ParamSchema* schema_ = nullptr;
  std::map<std::string, std::string> values_;
};

// Parses a YAML document into dotted key -> scalar text. Sequences are not
// allowed (no config key takes one), nor complex or empty keys (`? [a, b]`),
// nor a key given twice (also as `a: {b: 1}` and `a.b: 2`).
// Limits (InvalidArgument naming them): 1 MiB of text, 32 levels of nesting,
// 100,000 nodes counted with every alias expanded (an alias "bomb" of a few
// hundred bytes stands for billions). Never throws. Errors name `origin` and
// the line.
StatusOr<std::map<std::string, std::string>> FlattenYaml(const std::string& text,
                                                         const std::string& origin);

// Emits dotted key -> scalar text as a nested YAML document (the inverse of
// FlattenYaml).
std::string NestedYaml(const std::map<std::string, std::string>& flat);

// Validates a textual value against a spec (shared by ParamSet::Set): an int
// is a 64-bit integer (or an integral float such as 1e6) within the bounds, a
// float a finite number within them (nan and inf are refused for every float
// key, whatever its bounds).
Status CheckParamValue(const ParamSpec& spec, const std::string& value);

}  // namespace ecps
