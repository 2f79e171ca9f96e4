// loadgen's commands by name, and the --mix parser (see mix.hpp).
#include "tools/loadgen/mix.hpp"

#include <stdexcept>

namespace meetingd::loadgen {

namespace {

using k = proto::command_kind;

struct named {
  const char* name;
  std::optional<proto::command_kind> kind;
};

// In the order of `cmd`.
constexpr std::array<named, c_count> commands{{
  {"login", k::auth_login}, {"create", k::meeting_create}, {"join", k::meeting_join},
  {"accept", k::call_accept}, {"decline", k::call_decline}, {"leave", k::meeting_leave},
  {"mute", k::moderate_mute}, {"renew", k::meeting_renew}, {"end", k::meeting_end},
  {"get", k::meeting_get}, {"invite", k::call_invite}, {"kick", k::moderate_kick},
  {"echo", std::nullopt},
}};

} // namespace

const char* cmd_name(int c) {
  return c >= 0 && c < c_count ? commands[c].name : "?";
}

std::optional<proto::command_kind> cmd_kind(int c) {
  return c >= 0 && c < c_count ? commands[c].kind : std::nullopt;
}

const char* cmd_wire_type(int c) {
  if (c == c_echo)
    return "bench.echo";
  auto kind = cmd_kind(c);
  return kind ? proto::to_string(*kind) : "?";
}

int cmd_from_name(const std::string& name) {
  for (int c = 0; c < c_count; ++c)
    if (name == commands[c].name)
      return c;
  return -1;
}

std::string parse_mix(const std::string& text, std::array<double, c_count>& weights) {
  weights.fill(0);
  std::size_t at = 0;
  bool any = false;
  while (at <= text.size()) {
    auto comma = text.find(',', at);
    auto item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    at = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (item.empty())
      continue;
    double w = 1;
    auto colon = item.find(':');
    auto name = item.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        std::size_t used = 0;
        w = std::stod(item.substr(colon + 1), &used);
        if (used != item.size() - colon - 1 || w < 0)
          throw std::invalid_argument("weight");
      } catch (const std::exception&) {
        return "bad weight in '" + item + "' (expected NAME or NAME:WEIGHT, WEIGHT >= 0)";
      }
    }
    int c = cmd_from_name(name);
    if (c < 0 || c == c_echo) {
      std::string known;
      for (int n = 0; n < c_echo; ++n)
        known += (n ? ", " : "") + std::string(commands[n].name);
      return "unknown command '" + name + "' (known: " + known + ")";
    }
    weights[c] += w;
    any = any || w > 0;
  }
  if (!any)
    return "the mix has no command with a positive weight";
  return "";
}

} // namespace meetingd::loadgen
