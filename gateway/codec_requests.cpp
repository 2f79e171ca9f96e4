// Requests, both ways: decode_request (the node, on every uplink message) and
// encode_request (the clients). Both read one table, args_of: for each
// command kind its args in wire order, each with its name, JSON type,
// whether it is required, its bounds and the proto::command member it fills.
// A new arg is one entry in its command's row; decoding, encoding and the
// error messages follow from the entry.
//
// Decoding never throws: nlohmann's parser runs with exceptions off, every
// value's JSON type is checked before it is read, and the nesting depth is
// bounded before the parser sees the bytes. Unknown top-level fields and
// unknown args are ignored, so a newer client can talk to an older node. The
// first offending arg in table order is the one reported.
#include "gateway/codec.hpp"
#include "gateway/codec_json.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <variant>
#include <vector>

namespace meetingd::codec {

namespace {

using detail::json;
using detail::ojson;

constexpr std::size_t max_list_len = 100;
constexpr std::size_t max_title_len = 200;
constexpr std::size_t max_reason_len = 200;
constexpr std::size_t max_display_name_len = 100;

constexpr const char* id_rule = "1 to 64 characters of [A-Za-z0-9_.@-]";

// -- the args table ---------------------------------------------------------------

enum class need { optional, required };

/// How an arg is spelled in JSON, and so which rules check it.
enum class arg_type { entity_id, text, id_list, integer, boolean, choice };

/// The proto::command member an arg fills.
template <class T>
using slot = T proto::command::*;
using place = std::variant<slot<std::string>, slot<std::optional<std::string>>,
                           slot<std::vector<std::string>>, slot<std::optional<int>>,
                           slot<std::optional<bool>>, slot<std::optional<role>>,
                           slot<std::optional<invite_policy>>, slot<std::optional<sdk_event>>,
                           slot<std::optional<meeting_status>>>;

/// One arg of the table. `min` and `max` bound a text's bytes, a list's
/// length or an integer's value. Encoding writes std::optional members when
/// set, required strings and lists always, optional ones when not empty.
struct arg {
  const char* name;
  arg_type type;
  need presence;
  std::int64_t min;
  std::int64_t max;
  place where;
};

// The constructors of args, one per JSON type; each takes only members of
// the C++ type that JSON type reads into.
arg id(const char* name, need n, slot<std::string> where) {
  return {name, arg_type::entity_id, n, 0, 0, where};
}
arg id(const char* name, need n, slot<std::optional<std::string>> where) {
  return {name, arg_type::entity_id, n, 0, 0, where};
}
arg text(const char* name, need n, std::size_t min, std::size_t max,
         slot<std::optional<std::string>> where) {
  return {name, arg_type::text, n, static_cast<std::int64_t>(min),
          static_cast<std::int64_t>(max), where};
}
arg ids(const char* name, need n, std::size_t min, std::size_t max,
        slot<std::vector<std::string>> where) {
  return {name, arg_type::id_list, n, static_cast<std::int64_t>(min),
          static_cast<std::int64_t>(max), where};
}
arg integer(const char* name, int min, int max, slot<std::optional<int>> where) {
  return {name, arg_type::integer, need::optional, min, max, where};
}
arg flag(const char* name, slot<std::optional<bool>> where) {
  return {name, arg_type::boolean, need::optional, 0, 0, where};
}
template <class E>
arg choice(const char* name, need n, slot<std::optional<E>> where) {
  return {name, arg_type::choice, n, 0, 0, where};
}

struct args_error {
  std::string reason;
  std::string message;
};

/// A command's args, and what must hold between them.
struct command_args {
  std::vector<arg> args;
  std::optional<args_error> (*across)(const proto::command&) = nullptr;
};

std::optional<args_error> password_or_ticket(const proto::command& c) {
  if (!c.password && !c.ticket)
    return args_error{"missing_field:args.password",
                      "auth.login needs args.password or args.ticket"};
  if (c.password && c.ticket)
    return args_error{"bad_value:args.ticket",
                      "auth.login takes args.password or args.ticket, not both"};
  return std::nullopt;
}

/// The args table: each row names the commands that take its args.
const command_args& args_of(proto::command_kind kind) {
  using k = proto::command_kind;
  using c = proto::command;
  constexpr auto opt = need::optional;
  constexpr auto req = need::required;
  static const arg meeting = id("meeting", req, &c::meeting);
  static const arg user = id("user", req, &c::user);
  static const arg audio = flag("audio", &c::audio);
  static const arg video = flag("video", &c::video);
  static const arg limit = integer("limit", 1, 1000, &c::limit);
  static const arg after = id("after", opt, &c::after);
  struct row {
    std::vector<k> kinds;
    command_args args;
  };
  static const std::vector<row> rows{
    {{k::auth_login},
     {{user, text("password", opt, 1, 256, &c::password), text("ticket", opt, 1, 512, &c::ticket)},
      password_or_ticket}},
    {{k::auth_logout, k::admin_ping, k::admin_stats, k::admin_nodes}, {}},
    {{k::meeting_create},
     {{text("title", opt, 0, max_title_len, &c::title),
       ids("invitees", opt, 0, max_list_len, &c::users), id("meeting", opt, &c::requested_id),
       integer("max_participants", 2, 100000, &c::max_participants),
       choice("invite_policy", opt, &c::policy)}}},
    {{k::meeting_join, k::meeting_leave, k::meeting_end, k::meeting_get, k::meeting_renew,
      k::call_ringing, k::call_accept, k::moderate_lock, k::moderate_unlock, k::admin_meeting_get,
      k::admin_lock, k::admin_unlock},
     {{meeting}}},
    {{k::call_invite}, {{meeting, ids("users", req, 1, max_list_len, &c::users)}}},
    {{k::call_cancel}, {{meeting, ids("users", opt, 0, max_list_len, &c::users)}}},
    {{k::call_decline, k::admin_meeting_end},
     {{meeting, text("reason", opt, 0, max_reason_len, &c::reason)}}},
    {{k::moderate_kick, k::admin_kick}, {{meeting, user}}},
    {{k::moderate_mute, k::moderate_unmute, k::admin_mute, k::admin_unmute},
     {{meeting, user, audio, video}}},
    {{k::moderate_mute_all, k::moderate_unmute_all, k::admin_mute_all}, {{meeting, audio, video}}},
    {{k::moderate_set_role}, {{meeting, user, choice("role", req, &c::new_role)}}},
    {{k::rtc_event}, {{meeting, choice("event", req, &c::event)}}},
    {{k::admin_meetings_list},
     {{choice("state", opt, &c::state), id("user", opt, &c::user), limit, after}}},
    {{k::admin_users_list}, {{limit, after}}},
    {{k::admin_user_add},
     {{user, text("password", req, 8, 256, &c::password),
       text("display_name", opt, 0, max_display_name_len, &c::display_name)}}},
    {{k::admin_user_remove}, {{user}}},
  };
  constexpr auto kinds = static_cast<std::size_t>(proto::last_command_kind) + 1;
  static const auto by_kind = [] {
    std::array<const command_args*, kinds> index{};
    for (const auto& r : rows)
      for (auto x : r.kinds)
        index[static_cast<std::size_t>(x)] = &r.args;
    for (std::size_t i = 0; i < kinds; ++i) {
      if (!index[i]) { // a command added to the protocol and not here
        std::fprintf(stderr, "codec: no row in the args table for %s\n",
                     proto::to_string(static_cast<k>(i)));
        std::abort();
      }
    }
    return index;
  }();
  static const command_args none{};
  auto i = static_cast<std::size_t>(kind);
  return i < kinds ? *by_kind[i] : none;
}

// -- reading one arg ----------------------------------------------------------------

std::string range(std::int64_t min, std::int64_t max) {
  return std::to_string(min) + " to " + std::to_string(max);
}

/// Reads arg `a` from `v` (nullptr: absent) into `c`; the error if it is
/// missing, of the wrong JSON type or out of bounds.
class arg_reader {
public:
  arg_reader(const arg& a, proto::command& c) : a_(a), c_(c) {
  }

  std::optional<args_error> read(const json* v) {
    if (!v) {
      if (a_.presence == need::required)
        fail("missing_field", field() + " is required: " + expected());
      return std::move(err_);
    }
    std::visit([&](auto where) { take(*v, c_.*where); }, a_.where);
    return std::move(err_);
  }

private:
  /// What a valid value is, for "is required: ..." messages.
  std::string expected() const {
    switch (a_.type) {
      case arg_type::entity_id:
        return id_rule;
      case arg_type::text:
        return "a string of " + range(a_.min, a_.max) + " bytes";
      case arg_type::id_list:
        return "an array of " + range(a_.min, a_.max) + " user ids";
      case arg_type::integer:
        return "an integer from " + range(a_.min, a_.max);
      case arg_type::boolean:
        return "true or false";
      case arg_type::choice:
        return "one of " + std::visit([](auto where) { return names_of(where); }, a_.where);
    }
    return {};
  }

  template <class E>
  static std::string names_of(slot<std::optional<E>>) {
    if constexpr (std::is_enum_v<E>)
      return detail::names_of<E>();
    return {};
  }
  template <class T>
  static std::string names_of(slot<T>) {
    return {};
  }

  std::string field() const {
    return std::string{"args."} + a_.name;
  }

  void fail(const char* what, std::string message) {
    if (!err_)
      err_ = args_error{std::string{what} + ":" + field(), std::move(message)};
  }

  void take(const json& v, std::string& out) {
    read_id(v, out);
  }

  void take(const json& v, std::optional<std::string>& out) {
    std::string s;
    if (a_.type == arg_type::entity_id)
      read_id(v, s);
    else
      read_text(v, s);
    if (!err_)
      out = std::move(s);
  }

  /// Duplicates are dropped, the first occurrence kept; they count toward
  /// the length limit.
  void take(const json& v, std::vector<std::string>& out) {
    if (!v.is_array())
      return fail("bad_type", field() + " must be an array of user ids");
    auto n = static_cast<std::int64_t>(v.size());
    if (n < a_.min || n > a_.max)
      return fail("bad_value", field() + " must hold " + range(a_.min, a_.max) + " user ids");
    std::vector<std::string> result;
    result.reserve(v.size());
    for (const auto& x : v) {
      if (!x.is_string())
        return fail("bad_type", field() + " must be an array of strings");
      const auto& s = x.get_ref<const std::string&>();
      if (!detail::valid_id(s, true))
        return fail("bad_value", "each of " + field() + " must be " + id_rule);
      if (std::find(result.begin(), result.end(), s) == result.end())
        result.push_back(s);
    }
    out = std::move(result);
  }

  void take(const json& v, std::optional<int>& out) {
    if (!v.is_number_integer())
      return fail("bad_type", field() + " must be an integer");
    auto x = detail::as_int64(v);
    if (!x || *x < a_.min || *x > a_.max)
      return fail("bad_value", field() + " must be from " + range(a_.min, a_.max));
    out = static_cast<int>(*x);
  }

  void take(const json& v, std::optional<bool>& out) {
    if (!v.is_boolean())
      return fail("bad_type", field() + " must be true or false");
    out = v.get<bool>();
  }

  template <class E>
  void take(const json& v, std::optional<E>& out) {
    if (!v.is_string())
      return fail("bad_type", field() + " must be a string, one of " + detail::names_of<E>());
    auto x = detail::parse_as<E>(v.get_ref<const std::string&>());
    if (!x)
      return fail("bad_value", field() + " must be one of " + detail::names_of<E>());
    out = *x;
  }

  void read_id(const json& v, std::string& out) {
    if (!v.is_string())
      return fail("bad_type", field() + " must be a string: " + id_rule);
    const auto& s = v.get_ref<const std::string&>();
    if (!detail::valid_id(s, true))
      return fail("bad_value", field() + " must be " + id_rule);
    out = s;
  }

  void read_text(const json& v, std::string& out) {
    if (!v.is_string())
      return fail("bad_type", field() + " must be a string");
    const auto& s = v.get_ref<const std::string&>();
    auto n = static_cast<std::int64_t>(s.size());
    if (n < a_.min || n > a_.max || s.find('\0') != std::string::npos)
      return fail("bad_value", field() + " must be " + range(a_.min, a_.max)
                                 + " bytes of UTF-8 without NUL characters");
    out = s;
  }

  const arg& a_;
  proto::command& c_;
  std::optional<args_error> err_;
};

// -- writing one arg ----------------------------------------------------------------

void write(const arg& a, const proto::command& c, ojson& args) {
  std::visit(
    [&](auto where) {
      const auto& x = c.*where;
      using T = std::decay_t<decltype(x)>;
      if constexpr (detail::is_optional<T>::value) {
        if (x)
          args[a.name] = detail::members_out::value(*x);
      } else if (a.presence == need::required || !x.empty()) {
        args[a.name] = detail::members_out::value(x);
      }
    },
    a.where);
}

decoded refuse(std::optional<std::string> id, int code, std::string reason,
               std::string message) {
  decoded d;
  d.error = decode_error{std::move(id), code, std::move(reason), std::move(message)};
  return d;
}

} // namespace

decoded decode_request(std::string_view payload) {
  if (payload.size() > max_payload_bytes)
    return refuse(std::nullopt, 413, "too_large",
                  "the message is " + std::to_string(payload.size()) + " bytes; at most "
                    + std::to_string(max_payload_bytes) + " are accepted");
  if (!detail::nesting_ok(payload, detail::max_depth))
    return refuse(std::nullopt, 400, "bad_json",
                  "arrays and objects nest deeper than " + std::to_string(detail::max_depth)
                    + " levels");
  auto j = json::parse(payload.data(), payload.data() + payload.size(), nullptr, false);
  if (j.is_discarded())
    return refuse(std::nullopt, 400, "bad_json", "the message is not valid JSON in UTF-8");
  if (!j.is_object())
    return refuse(std::nullopt, 400, "bad_json",
                  "the message must be a JSON object with id, type and args");
  // id
  auto id_value = detail::member(j, "id");
  if (!id_value)
    return refuse(std::nullopt, 400, "missing_field:id",
                  "id is required: 1 to 64 characters of [A-Za-z0-9_.:-]");
  if (!id_value->is_string())
    return refuse(std::nullopt, 400, "bad_type:id",
                  "id must be a string of 1 to 64 characters of [A-Za-z0-9_.:-]");
  const auto& id = id_value->get_ref<const std::string&>();
  if (!valid_request_id(id))
    return refuse(std::nullopt, 400, "bad_value:id",
                  "id must be 1 to 64 characters of [A-Za-z0-9_.:-]");
  // type
  auto type_value = detail::member(j, "type");
  if (!type_value)
    return refuse(id, 400, "missing_field:type", "type is required, e.g. \"meeting.create\"");
  if (!type_value->is_string())
    return refuse(id, 400, "bad_type:type", "type must be a string, e.g. \"meeting.create\"");
  const auto& type = type_value->get_ref<const std::string&>();
  auto kind = proto::parse_command_kind(type);
  if (!kind) {
    // Echo the type only when it is short and harmless to log.
    auto shown = valid_request_id(type) ? "\"" + type + "\" " : std::string{};
    return refuse(id, 400, "unknown_type",
                  "type " + shown
                    + "names no command of this protocol version "
                      "(docs/protocol.md §7, §10)");
  }
  // args
  auto args = detail::member(j, "args");
  if (args && !args->is_object())
    return refuse(id, 400, "bad_type:args", "args must be a JSON object");
  proto::request req;
  req.id = id;
  req.cmd.kind = *kind;
  const auto& table = args_of(*kind);
  for (const auto& a : table.args) {
    auto v = args ? detail::member(*args, a.name) : nullptr;
    if (auto err = arg_reader{a, req.cmd}.read(v))
      return refuse(id, 400, std::move(err->reason), std::move(err->message));
  }
  if (table.across) {
    if (auto err = table.across(req.cmd))
      return refuse(id, 400, std::move(err->reason), std::move(err->message));
  }
  decoded d;
  d.request = std::move(req);
  return d;
}

std::string encode_request(const proto::request& x) {
  ojson args = ojson::object();
  for (const auto& a : args_of(x.cmd.kind).args)
    write(a, x.cmd, args);
  ojson j = ojson::object();
  j["id"] = x.id;
  j["type"] = proto::to_string(x.cmd.kind);
  if (!args.empty())
    j["args"] = std::move(args);
  return detail::dump(j);
}

} // namespace meetingd::codec
