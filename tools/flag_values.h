// Unsigned integer flags of the `ecps` commands (boost::program_options).
//
// boost reads an unsigned option through lexical_cast, which takes "-5" and
// wraps it: `gen-data --rows -5` asked for 18446744073709551611 rows and
// wrote an empty file with exit 0 (issue 14). Including this header in a
// command's .cc replaces that parse for every unsigned option of the file:
// a sign, a non-digit or a value beyond the type is refused with boost's
// usual "the argument ('-5') for option '--rows' is invalid" (exit code 2).
//
// How: typed_value<T> parses with an unqualified validate(any&, tokens, T*,
// long) call; argument-dependent lookup through boost::any finds these
// non-template overloads in namespace boost, which win over the generic
// template for exactly these types.
#pragma once

#include <boost/any.hpp>
#include <boost/program_options/errors.hpp>
#include <boost/program_options/value_semantic.hpp>
#include <charconv>
#include <string>
#include <vector>

namespace ecps::tools::internal {

template <class T>
void ValidateUnsigned(boost::any& v, const std::vector<std::string>& values) {
  namespace po = boost::program_options;
  po::validators::check_first_occurrence(v);
  const std::string& s = po::validators::get_single_string(values);
  T out = 0;
  // Digits only: from_chars for unsigned types refuses a sign, and the whole
  // token must be consumed (no "5x", no "1e3").
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    throw po::invalid_option_value(s);
  v = boost::any(out);
}

}  // namespace ecps::tools::internal

namespace boost {

inline void validate(boost::any& v, const std::vector<std::string>& values, unsigned int*, long) {
  ecps::tools::internal::ValidateUnsigned<unsigned int>(v, values);
}
inline void validate(boost::any& v, const std::vector<std::string>& values, unsigned long*, long) {
  ecps::tools::internal::ValidateUnsigned<unsigned long>(v, values);
}
inline void validate(boost::any& v, const std::vector<std::string>& values, unsigned long long*,
                     long) {
  ecps::tools::internal::ValidateUnsigned<unsigned long long>(v, values);
}

}  // namespace boost
