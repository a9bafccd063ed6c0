#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ecps {

bool SetLogLevel(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") return false;
  static bool sink_set = [] {
    auto logger = spdlog::stderr_color_mt("ecps");
    logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    spdlog::set_default_logger(logger);
    return true;
  }();
  (void)sink_set;
  spdlog::set_level(lvl);
  return true;
}

}  // namespace ecps
