// The wire codec (PROTOCOL.md §2, §3, §6, §7, §8). See codec.hpp.
//
// Decoding never throws: nlohmann's parser runs with exceptions off, every
// value's JSON type is checked before it is read, and the nesting depth is
// bounded by a pre-scan before the parser sees the bytes. A JSON `null` counts
// as absent, for `id`, `type`, `args` and each arg alike (clients written in
// languages without optional fields send null). Unknown top-level fields and
// unknown args are ignored, so a newer client can talk to an older node.
//
// Encoding uses nlohmann::ordered_json: keys come out in the order written
// here (envelope: id, type, code, data; credentials in PROTOCOL.md §6 order),
// so the same value always encodes to the same bytes. Strings that are not
// valid UTF-8 (never produced by decode) are written with U+FFFD in place of
// the bad bytes rather than throwing.
#include "gateway/codec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace meetingd::codec {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

/// Deepest nesting of arrays and objects any payload may have. The node's
/// messages need four levels; 16 leaves room for extensions.
constexpr int max_depth = 16;

constexpr std::size_t max_id_len = 64;
constexpr std::size_t max_list_len = 100;
constexpr std::size_t max_title_len = 200;
constexpr std::size_t max_reason_len = 200;
constexpr std::size_t max_display_name_len = 100;

constexpr const char* id_rule = "1 to 64 characters of [A-Za-z0-9_.@-]";

// -- shared helpers -------------------------------------------------------------

/// False if `s` nests arrays/objects deeper than `limit`. Brackets inside
/// strings (with escapes) do not count. Invalid JSON passes when shallow;
/// the parser refuses it afterwards.
bool nesting_ok(std::string_view s, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limit)
          return false;
        break;
      case ']':
      case '}':
        if (depth > 0)
          --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

/// Parses `s` without exceptions; a discarded value on any error.
template <class Json>
Json parse_bounded(std::string_view s) {
  if (!nesting_ok(s, max_depth))
    return Json(Json::value_t::discarded);
  return Json::parse(s.data(), s.data() + s.size(), nullptr, false);
}

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

/// The member `key` of object `o`, or nullptr when absent or null.
template <class Json>
const Json* member(const Json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null())
    return nullptr;
  return &*it;
}

/// Reads a JSON integer as int64; nullopt for floats, non-numbers and
/// unsigned values beyond int64.
template <class Json>
std::optional<std::int64_t> as_int64(const Json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.template get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer())
    return v.template get<std::int64_t>();
  return std::nullopt;
}

bool id_char(char c, bool entity) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
    return true;
  switch (c) {
    case '_':
    case '.':
    case '-':
      return true;
    case ':':
      return !entity;
    case '@':
      return entity;
    default:
      return false;
  }
}

bool valid_id(std::string_view x, bool entity) {
  if (x.empty() || x.size() > max_id_len)
    return false;
  return std::all_of(x.begin(), x.end(),
                     [entity](char c) { return id_char(c, entity); });
}

// -- decode_request -------------------------------------------------------------

decoded refuse(std::optional<std::string> id, int code, std::string reason,
               std::string message) {
  decoded d;
  d.error = decode_error{std::move(id), code, std::move(reason),
                         std::move(message)};
  return d;
}

/// Reads the args of one command. Each read is a no-op once an error has
/// been recorded, so a command's args are read as a flat list and the first
/// offending one (in that list's order) is reported.
class args_reader {
public:
  explicit args_reader(const json* args) : args_(args) {
  }

  std::optional<decode_error> err;

  void fail(const char* what, const char* name, std::string message) {
    if (err)
      return;
    decode_error e;
    e.code = 400;
    e.reason = std::string{what} + ":args." + name;
    e.message = std::move(message);
    err = std::move(e);
  }

  /// A required entity id (user, meeting).
  void id(const char* name, std::string& out) {
    if (err)
      return;
    auto v = find(name);
    if (!v)
      return fail("missing_field", name,
                  std::string{"args."} + name + " is required: " + id_rule);
    read_id(name, *v, out);
  }

  /// An optional entity id.
  void opt_id(const char* name, std::optional<std::string>& out) {
    if (err)
      return;
    if (auto v = find(name)) {
      std::string tmp;
      read_id(name, *v, tmp);
      if (!err)
        out = std::move(tmp);
    }
  }

  /// An optional entity id into a plain string (empty = absent).
  void opt_id(const char* name, std::string& out) {
    if (err)
      return;
    if (auto v = find(name))
      read_id(name, *v, out);
  }

  /// A string of `min..max` bytes, no NUL characters.
  void str(const char* name, bool required, std::size_t min, std::size_t max,
           std::optional<std::string>& out) {
    if (err)
      return;
    auto v = find(name);
    if (!v) {
      if (required)
        fail("missing_field", name,
             std::string{"args."} + name + " is required: a string of "
               + std::to_string(min) + " to " + std::to_string(max) + " bytes");
      return;
    }
    if (!v->is_string())
      return fail("bad_type", name,
                  std::string{"args."} + name + " must be a string");
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() < min || s.size() > max || s.find('\0') != std::string::npos)
      return fail("bad_value", name,
                  std::string{"args."} + name + " must be " + std::to_string(min)
                    + " to " + std::to_string(max)
                    + " bytes of UTF-8 without NUL characters");
    out = s;
  }

  /// An array of `min..max` entity ids; duplicates are dropped, the first
  /// occurrence kept.
  void id_list(const char* name, bool required, std::size_t min,
               std::size_t max, std::vector<std::string>& out) {
    if (err)
      return;
    auto v = find(name);
    if (!v) {
      if (required)
        fail("missing_field", name,
             std::string{"args."} + name + " is required: an array of "
               + std::to_string(min) + " to " + std::to_string(max)
               + " user ids");
      return;
    }
    if (!v->is_array())
      return fail("bad_type", name,
                  std::string{"args."} + name + " must be an array of user ids");
    if (v->size() < min || v->size() > max)
      return fail("bad_value", name,
                  std::string{"args."} + name + " must hold " + std::to_string(min)
                    + " to " + std::to_string(max) + " user ids");
    std::vector<std::string> result;
    result.reserve(v->size());
    for (const auto& x : *v) {
      if (!x.is_string())
        return fail("bad_type", name,
                    std::string{"args."} + name + " must be an array of strings");
      const auto& s = x.get_ref<const std::string&>();
      if (!valid_id(s, true))
        return fail("bad_value", name,
                    std::string{"each of args."} + name + " must be " + id_rule);
      if (std::find(result.begin(), result.end(), s) == result.end())
        result.push_back(s);
    }
    out = std::move(result);
  }

  /// An optional JSON integer within `min..max`.
  void integer(const char* name, int min, int max, std::optional<int>& out) {
    if (err)
      return;
    auto v = find(name);
    if (!v)
      return;
    if (!v->is_number_integer())
      return fail("bad_type", name,
                  std::string{"args."} + name + " must be an integer");
    auto x = as_int64(*v);
    if (!x || *x < min || *x > max)
      return fail("bad_value", name,
                  std::string{"args."} + name + " must be from "
                    + std::to_string(min) + " to " + std::to_string(max));
    out = static_cast<int>(*x);
  }

  void boolean(const char* name, std::optional<bool>& out) {
    if (err)
      return;
    auto v = find(name);
    if (!v)
      return;
    if (!v->is_boolean())
      return fail("bad_type", name,
                  std::string{"args."} + name + " must be true or false");
    out = v->get<bool>();
  }

  /// A string naming one value of an enum; `allowed` lists them for humans.
  template <class E, class Parse>
  void enumeration(const char* name, bool required, Parse parse,
                   const char* allowed, std::optional<E>& out) {
    if (err)
      return;
    auto v = find(name);
    if (!v) {
      if (required)
        fail("missing_field", name,
             std::string{"args."} + name + " is required: one of " + allowed);
      return;
    }
    if (!v->is_string())
      return fail("bad_type", name,
                  std::string{"args."} + name + " must be a string, one of "
                    + allowed);
    auto x = parse(v->get_ref<const std::string&>());
    if (!x)
      return fail("bad_value", name,
                  std::string{"args."} + name + " must be one of " + allowed);
    out = *x;
  }

private:
  const json* find(const char* name) const {
    return args_ ? member(*args_, name) : nullptr;
  }

  void read_id(const char* name, const json& v, std::string& out) {
    if (!v.is_string())
      return fail("bad_type", name,
                  std::string{"args."} + name + " must be a string: " + id_rule);
    const auto& s = v.get_ref<const std::string&>();
    if (!valid_id(s, true))
      return fail("bad_value", name,
                  std::string{"args."} + name + " must be " + id_rule);
    out = s;
  }

  const json* args_;
};

/// The args table: which args each command takes, of which type and range.
void read_args(proto::command& c, args_reader& a) {
  using k = proto::command_kind;
  auto audio_video = [&] {
    a.boolean("audio", c.audio);
    a.boolean("video", c.video);
  };
  switch (c.kind) {
    case k::auth_login:
      a.id("user", c.user);
      a.str("password", false, 1, 256, c.password);
      a.str("ticket", false, 1, 512, c.ticket);
      if (!a.err && !c.password && !c.ticket)
        a.fail("missing_field", "password",
               "auth.login needs args.password or args.ticket");
      else if (!a.err && c.password && c.ticket)
        a.fail("bad_value", "ticket",
               "auth.login takes args.password or args.ticket, not both");
      break;
    case k::auth_logout:
    case k::admin_ping:
    case k::admin_stats:
      break;
    case k::meeting_create:
      a.str("title", false, 0, max_title_len, c.title);
      a.id_list("invitees", false, 0, max_list_len, c.users);
      a.opt_id("meeting", c.requested_id);
      a.integer("max_participants", 2, 100000, c.max_participants);
      a.enumeration<invite_policy>("invite_policy", false, parse_invite_policy,
                                   "anyone, hosts", c.policy);
      break;
    case k::meeting_join:
    case k::meeting_leave:
    case k::meeting_end:
    case k::meeting_get:
    case k::meeting_renew:
    case k::call_ringing:
    case k::call_accept:
    case k::moderate_lock:
    case k::moderate_unlock:
    case k::admin_meeting_get:
      a.id("meeting", c.meeting);
      break;
    case k::call_invite:
      a.id("meeting", c.meeting);
      a.id_list("users", true, 1, max_list_len, c.users);
      break;
    case k::call_cancel:
      a.id("meeting", c.meeting);
      a.id_list("users", false, 0, max_list_len, c.users);
      break;
    case k::call_decline:
      a.id("meeting", c.meeting);
      a.str("reason", false, 0, max_reason_len, c.reason);
      break;
    case k::moderate_kick:
    case k::admin_kick:
      a.id("meeting", c.meeting);
      a.id("user", c.user);
      break;
    case k::moderate_mute:
    case k::moderate_unmute:
      a.id("meeting", c.meeting);
      a.id("user", c.user);
      audio_video();
      break;
    case k::moderate_mute_all:
    case k::moderate_unmute_all:
    case k::admin_mute_all:
      a.id("meeting", c.meeting);
      audio_video();
      break;
    case k::moderate_set_role:
      a.id("meeting", c.meeting);
      a.id("user", c.user);
      a.enumeration<role>("role", true, parse_role, "host, cohost, member",
                          c.new_role);
      break;
    case k::rtc_event:
      a.id("meeting", c.meeting);
      a.enumeration<sdk_event>("event", true, parse_sdk_event,
                               "joined, left, network_lost, network_recovered, "
                               "audio_muted, audio_unmuted, video_muted, "
                               "video_unmuted",
                               c.event);
      break;
    case k::admin_meetings_list:
      a.enumeration<meeting_status>("state", false, parse_meeting_status,
                                    "active, ended", c.state);
      a.opt_id("user", c.user);
      a.integer("limit", 1, 1000, c.limit);
      a.opt_id("after", c.after);
      break;
    case k::admin_users_list:
      a.integer("limit", 1, 1000, c.limit);
      a.opt_id("after", c.after);
      break;
    case k::admin_meeting_end:
      a.id("meeting", c.meeting);
      a.str("reason", false, 0, max_reason_len, c.reason);
      break;
    case k::admin_user_add:
      a.id("user", c.user);
      a.str("password", true, 8, 256, c.password);
      a.str("display_name", false, 0, max_display_name_len, c.display_name);
      break;
    case k::admin_user_remove:
      a.id("user", c.user);
      break;
  }
}

// -- encoding -------------------------------------------------------------------

ojson to_json(const proto::credentials& x) {
  ojson j = ojson::object();
  j["appid"] = x.appid;
  j["channel"] = x.channel;
  j["meeting"] = x.meeting;
  j["userid"] = x.userid;
  j["gslb"] = x.gslb;
  j["session"] = x.session;
  j["token"] = x.token;
  j["nonce"] = x.nonce;
  j["timestamp"] = x.timestamp;
  ojson turn = ojson::object();
  turn["username"] = x.turn_username;
  turn["password"] = x.turn_password;
  j["turn"] = std::move(turn);
  return j;
}

ojson to_json(const proto::participant_view& x) {
  ojson j = ojson::object();
  j["user"] = x.user;
  j["rtc_userid"] = x.rtc_userid;
  j["role"] = to_string(x.r);
  j["state"] = to_string(x.status);
  j["online"] = x.online;
  j["audio_muted"] = x.audio_muted;
  j["video_muted"] = x.video_muted;
  j["joined_at"] = x.joined_at;
  return j;
}

ojson to_json(const proto::invitation_view& x) {
  ojson j = ojson::object();
  j["user"] = x.user;
  j["inviter"] = x.inviter;
  j["state"] = to_string(x.status);
  j["ring_expires_at"] = x.ring_expires_at;
  return j;
}

template <class T>
ojson list_to_json(const std::vector<T>& xs) {
  ojson j = ojson::array();
  for (const auto& x : xs)
    j.push_back(to_json(x));
  return j;
}

ojson outcomes_to_json(const std::vector<proto::invite_outcome>& xs) {
  ojson j = ojson::object();
  for (const auto& x : xs)
    j[x.user] = x.status;
  return j;
}

/// JSON has no NaN or infinity; a non-finite statistic is written as 0.
double finite(double x) {
  return std::isfinite(x) ? x : 0.0;
}

struct data_encoder {
  ojson operator()(const std::monostate&) const {
    return ojson::object();
  }
  ojson operator()(const proto::login_data& x) const {
    ojson j = ojson::object();
    j["user"] = x.user;
    j["display_name"] = x.display_name;
    return j;
  }
  ojson operator()(const proto::create_data& x) const {
    ojson j = ojson::object();
    j["meeting"] = x.meeting;
    j["channel"] = x.channel;
    j["expires_at"] = x.expires_at;
    j["credentials"] = to_json(x.creds);
    j["invitations"] = outcomes_to_json(x.invitations);
    return j;
  }
  ojson operator()(const proto::join_data& x) const {
    ojson j = ojson::object();
    j["credentials"] = to_json(x.creds);
    j["participants"] = list_to_json(x.participants);
    return j;
  }
  ojson operator()(const proto::credentials_data& x) const {
    ojson j = ojson::object();
    j["credentials"] = to_json(x.creds);
    return j;
  }
  ojson operator()(const proto::meeting_view& x) const {
    ojson j = ojson::object();
    j["meeting"] = x.meeting;
    j["title"] = x.title;
    j["host"] = x.host;
    j["channel"] = x.channel;
    j["state"] = to_string(x.status);
    if (!x.end_reason.empty())
      j["end_reason"] = x.end_reason;
    j["created_at"] = x.created_at;
    j["expires_at"] = x.expires_at;
    j["locked"] = x.locked;
    j["invite_policy"] = to_string(x.policy);
    j["max_participants"] = x.max_participants;
    j["participants"] = list_to_json(x.participants);
    j["invitations"] = list_to_json(x.invitations);
    return j;
  }
  ojson operator()(const proto::invite_data& x) const {
    ojson j = ojson::object();
    j["invitations"] = outcomes_to_json(x.invitations);
    return j;
  }
  ojson operator()(const proto::ping_data& x) const {
    ojson j = ojson::object();
    j["node"] = x.node;
    j["version"] = x.version;
    j["uptime_s"] = x.uptime_s;
    return j;
  }
  ojson operator()(const proto::stats_data& x) const {
    ojson j = ojson::object();
    j["meetings"] = ojson::object();
    j["meetings"]["active"] = x.meetings_active;
    j["meetings"]["ended"] = x.meetings_ended;
    j["meetings"]["with_actor"] = x.meetings_with_actor;
    j["meetings"]["dormant"] = x.meetings_dormant;
    j["participants"] = x.participants;
    j["ringing_invitations"] = x.ringing_invitations;
    j["devices_online"] = x.devices_online;
    j["users"] = x.users;
    j["commands"] = ojson::object();
    j["commands"]["total"] = x.commands_total;
    j["commands"]["per_s"] = finite(x.commands_per_s);
    j["commands"]["p50_ms"] = finite(x.latency_p50_ms);
    j["commands"]["p99_ms"] = finite(x.latency_p99_ms);
    j["rtc"] = ojson::object();
    j["rtc"]["calls"] = x.rtc_calls;
    j["rtc"]["failures"] = x.rtc_failures;
    j["rtc"]["retries"] = x.rtc_retries;
    j["rtc"]["circuit_open"] = x.rtc_circuit_open;
    j["store"] = ojson::object();
    j["store"]["commits"] = x.store_commits;
    j["store"]["changes_per_commit"] = finite(x.store_changes_per_commit);
    return j;
  }
  ojson operator()(const proto::meetings_page& x) const {
    ojson j = ojson::object();
    ojson list = ojson::array();
    for (const auto& m : x.meetings) {
      ojson e = ojson::object();
      e["meeting"] = m.meeting;
      e["title"] = m.title;
      e["host"] = m.host;
      e["state"] = to_string(m.status);
      e["participants"] = m.participants;
      e["created_at"] = m.created_at;
      e["expires_at"] = m.expires_at;
      list.push_back(std::move(e));
    }
    j["meetings"] = std::move(list);
    if (x.next_after)
      j["next_after"] = *x.next_after;
    return j;
  }
  ojson operator()(const proto::users_page& x) const {
    ojson j = ojson::object();
    ojson list = ojson::array();
    for (const auto& u : x.users) {
      ojson e = ojson::object();
      e["user"] = u.user;
      e["display_name"] = u.display_name;
      e["created_at"] = u.created_at;
      e["devices_online"] = u.devices_online;
      list.push_back(std::move(e));
    }
    j["users"] = std::move(list);
    if (x.next_after)
      j["next_after"] = *x.next_after;
    return j;
  }
};

// -- decoding of node output (replies, events) ----------------------------------

/// Reads fields of node-produced objects: a missing field keeps its default,
/// a field of the wrong type marks the whole decode as failed.
struct field_reader {
  bool ok = true;

  void str(const ojson& o, const char* k, std::string& out) {
    if (auto v = member(o, k)) {
      if (v->is_string())
        out = v->get<std::string>();
      else
        ok = false;
    }
  }
  void opt_str(const ojson& o, const char* k, std::optional<std::string>& out) {
    if (auto v = member(o, k)) {
      if (v->is_string())
        out = v->get<std::string>();
      else
        ok = false;
    }
  }
  void i64(const ojson& o, const char* k, std::int64_t& out) {
    if (auto v = member(o, k)) {
      if (auto x = as_int64(*v))
        out = *x;
      else
        ok = false;
    }
  }
  void i32(const ojson& o, const char* k, int& out) {
    std::int64_t x = out;
    i64(o, k, x);
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
      ok = false;
    else
      out = static_cast<int>(x);
  }
  void dbl(const ojson& o, const char* k, double& out) {
    if (auto v = member(o, k)) {
      if (v->is_number())
        out = v->get<double>();
      else
        ok = false;
    }
  }
  void boolean(const ojson& o, const char* k, bool& out) {
    if (auto v = member(o, k)) {
      if (v->is_boolean())
        out = v->get<bool>();
      else
        ok = false;
    }
  }
  void opt_bool(const ojson& o, const char* k, std::optional<bool>& out) {
    if (auto v = member(o, k)) {
      if (v->is_boolean())
        out = v->get<bool>();
      else
        ok = false;
    }
  }
  template <class E, class Parse>
  void enumeration(const ojson& o, const char* k, Parse parse, E& out) {
    if (auto v = member(o, k)) {
      std::optional<E> x;
      if (v->is_string())
        x = parse(v->get<std::string>());
      if (x)
        out = *x;
      else
        ok = false;
    }
  }
  /// The object member `k`, or nullptr (and failure if it is not an object).
  const ojson* obj(const ojson& o, const char* k) {
    auto v = member(o, k);
    if (v && !v->is_object()) {
      ok = false;
      return nullptr;
    }
    return v;
  }
  const ojson* arr(const ojson& o, const char* k) {
    auto v = member(o, k);
    if (v && !v->is_array()) {
      ok = false;
      return nullptr;
    }
    return v;
  }

  proto::credentials creds(const ojson& o) {
    proto::credentials c;
    str(o, "appid", c.appid);
    str(o, "channel", c.channel);
    str(o, "meeting", c.meeting);
    str(o, "userid", c.userid);
    if (auto g = arr(o, "gslb")) {
      for (const auto& x : *g) {
        if (x.is_string())
          c.gslb.push_back(x.get<std::string>());
        else
          ok = false;
      }
    }
    str(o, "session", c.session);
    str(o, "token", c.token);
    str(o, "nonce", c.nonce);
    i64(o, "timestamp", c.timestamp);
    if (auto t = obj(o, "turn")) {
      str(*t, "username", c.turn_username);
      str(*t, "password", c.turn_password);
    }
    return c;
  }

  proto::credentials creds_member(const ojson& o) {
    if (auto c = obj(o, "credentials"))
      return creds(*c);
    return {};
  }

  proto::participant_view participant(const ojson& o) {
    proto::participant_view p;
    str(o, "user", p.user);
    if (member(o, "rtc_userid"))
      str(o, "rtc_userid", p.rtc_userid);
    enumeration(o, "role", parse_role, p.r);
    enumeration(o, "state", parse_participant_status, p.status);
    boolean(o, "online", p.online);
    boolean(o, "audio_muted", p.audio_muted);
    boolean(o, "video_muted", p.video_muted);
    i64(o, "joined_at", p.joined_at);
    return p;
  }

  proto::invitation_view invitation(const ojson& o) {
    proto::invitation_view v;
    str(o, "user", v.user);
    str(o, "inviter", v.inviter);
    enumeration(o, "state", parse_invitation_status, v.status);
    i64(o, "ring_expires_at", v.ring_expires_at);
    return v;
  }

  /// Each element of array member `k`, which must be an object, read by `f`.
  template <class T, class F>
  void list(const ojson& o, const char* k, std::vector<T>& out, F f) {
    if (auto a = arr(o, k)) {
      for (const auto& x : *a) {
        if (x.is_object())
          out.push_back(f(x));
        else
          ok = false;
      }
    }
  }

  void outcomes(const ojson& o, std::vector<proto::invite_outcome>& out) {
    if (auto m = obj(o, "invitations")) {
      for (auto it = m->begin(); it != m->end(); ++it) {
        if (it->is_string())
          out.push_back({it.key(), it->get<std::string>()});
        else
          ok = false;
      }
    }
  }
};

proto::reply_data decode_data(const ojson& d, field_reader& r) {
  auto has = [&d](const char* k) { return d.contains(k); };
  if (has("credentials") && has("meeting") && has("channel")) {
    proto::create_data x;
    r.str(d, "meeting", x.meeting);
    r.str(d, "channel", x.channel);
    r.i64(d, "expires_at", x.expires_at);
    x.creds = r.creds_member(d);
    r.outcomes(d, x.invitations);
    return x;
  }
  if (has("credentials") && has("participants")) {
    proto::join_data x;
    x.creds = r.creds_member(d);
    r.list(d, "participants", x.participants,
           [&r](const ojson& o) { return r.participant(o); });
    return x;
  }
  if (has("credentials")) {
    proto::credentials_data x;
    x.creds = r.creds_member(d);
    return x;
  }
  if (has("participants") && has("host")) {
    proto::meeting_view x;
    r.str(d, "meeting", x.meeting);
    r.str(d, "title", x.title);
    r.str(d, "host", x.host);
    r.str(d, "channel", x.channel);
    r.enumeration(d, "state", parse_meeting_status, x.status);
    r.str(d, "end_reason", x.end_reason);
    r.i64(d, "created_at", x.created_at);
    r.i64(d, "expires_at", x.expires_at);
    r.boolean(d, "locked", x.locked);
    r.enumeration(d, "invite_policy", parse_invite_policy, x.policy);
    r.i32(d, "max_participants", x.max_participants);
    r.list(d, "participants", x.participants,
           [&r](const ojson& o) { return r.participant(o); });
    r.list(d, "invitations", x.invitations,
           [&r](const ojson& o) { return r.invitation(o); });
    return x;
  }
  if (has("invitations")) {
    proto::invite_data x;
    r.outcomes(d, x.invitations);
    return x;
  }
  if (has("uptime_s")) {
    proto::ping_data x;
    r.str(d, "node", x.node);
    r.str(d, "version", x.version);
    r.i64(d, "uptime_s", x.uptime_s);
    return x;
  }
  if (has("commands")) {
    proto::stats_data x;
    if (auto m = r.obj(d, "meetings")) {
      r.i64(*m, "active", x.meetings_active);
      r.i64(*m, "ended", x.meetings_ended);
      r.i64(*m, "with_actor", x.meetings_with_actor);
      r.i64(*m, "dormant", x.meetings_dormant);
    }
    r.i64(d, "participants", x.participants);
    r.i64(d, "ringing_invitations", x.ringing_invitations);
    r.i64(d, "devices_online", x.devices_online);
    r.i64(d, "users", x.users);
    if (auto c = r.obj(d, "commands")) {
      r.i64(*c, "total", x.commands_total);
      r.dbl(*c, "per_s", x.commands_per_s);
      r.dbl(*c, "p50_ms", x.latency_p50_ms);
      r.dbl(*c, "p99_ms", x.latency_p99_ms);
    }
    if (auto c = r.obj(d, "rtc")) {
      r.i64(*c, "calls", x.rtc_calls);
      r.i64(*c, "failures", x.rtc_failures);
      r.i64(*c, "retries", x.rtc_retries);
      r.boolean(*c, "circuit_open", x.rtc_circuit_open);
    }
    if (auto c = r.obj(d, "store")) {
      r.i64(*c, "commits", x.store_commits);
      r.dbl(*c, "changes_per_commit", x.store_changes_per_commit);
    }
    return x;
  }
  if (has("meetings")) {
    proto::meetings_page x;
    r.list(d, "meetings", x.meetings, [&r](const ojson& o) {
      proto::meeting_summary m;
      r.str(o, "meeting", m.meeting);
      r.str(o, "title", m.title);
      r.str(o, "host", m.host);
      r.enumeration(o, "state", parse_meeting_status, m.status);
      r.i32(o, "participants", m.participants);
      r.i64(o, "created_at", m.created_at);
      r.i64(o, "expires_at", m.expires_at);
      return m;
    });
    r.opt_str(d, "next_after", x.next_after);
    return x;
  }
  if (auto u = d.find("users"); u != d.end() && u->is_array()) {
    proto::users_page x;
    r.list(d, "users", x.users, [&r](const ojson& o) {
      proto::user_summary u;
      r.str(o, "user", u.user);
      r.str(o, "display_name", u.display_name);
      r.i64(o, "created_at", u.created_at);
      r.i32(o, "devices_online", u.devices_online);
      return u;
    });
    r.opt_str(d, "next_after", x.next_after);
    return x;
  }
  if (has("user") && has("display_name")) {
    proto::login_data x;
    r.str(d, "user", x.user);
    r.str(d, "display_name", x.display_name);
    return x;
  }
  return std::monostate{};
}

} // namespace

// -- public API -----------------------------------------------------------------

bool valid_request_id(std::string_view x) {
  return valid_id(x, false);
}

bool valid_entity_id(std::string_view x) {
  return valid_id(x, true);
}

decoded decode_request(std::string_view payload) {
  if (payload.size() > max_payload_bytes)
    return refuse(std::nullopt, 413, "too_large",
                  "the message is " + std::to_string(payload.size())
                    + " bytes; at most " + std::to_string(max_payload_bytes)
                    + " are accepted");
  if (!nesting_ok(payload, max_depth))
    return refuse(std::nullopt, 400, "bad_json",
                  "arrays and objects nest deeper than "
                    + std::to_string(max_depth) + " levels");
  auto j = json::parse(payload.data(), payload.data() + payload.size(), nullptr,
                       false);
  if (j.is_discarded())
    return refuse(std::nullopt, 400, "bad_json",
                  "the message is not valid JSON in UTF-8");
  if (!j.is_object())
    return refuse(std::nullopt, 400, "bad_json",
                  "the message must be a JSON object with id, type and args");
  // id
  auto id_value = member(j, "id");
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
  auto type_value = member(j, "type");
  if (!type_value)
    return refuse(id, 400, "missing_field:type",
                  "type is required, e.g. \"meeting.create\"");
  if (!type_value->is_string())
    return refuse(id, 400, "bad_type:type",
                  "type must be a string, e.g. \"meeting.create\"");
  const auto& type = type_value->get_ref<const std::string&>();
  auto kind = proto::parse_command_kind(type);
  if (!kind) {
    // Echo the type only when it is short and harmless to log.
    auto shown = valid_request_id(type) ? "\"" + type + "\" " : std::string{};
    return refuse(id, 400, "unknown_type",
                  "type " + shown
                    + "names no command of this protocol version "
                      "(PROTOCOL.md §7, §8)");
  }
  // args
  auto args = member(j, "args");
  if (args && !args->is_object())
    return refuse(id, 400, "bad_type:args", "args must be a JSON object");
  proto::request req;
  req.id = id;
  req.cmd.kind = *kind;
  args_reader reader{args};
  read_args(req.cmd, reader);
  if (reader.err) {
    reader.err->id = id;
    decoded d;
    d.error = std::move(reader.err);
    return d;
  }
  decoded d;
  d.request = std::move(req);
  return d;
}

std::string encode_reply(const proto::reply& x) {
  ojson j = ojson::object();
  if (x.id)
    j["id"] = *x.id;
  else
    j["id"] = nullptr;
  j["type"] = "reply";
  j["code"] = x.code;
  if (x.code == 0) {
    j["data"] = std::visit(data_encoder{}, x.data);
  } else {
    ojson e = ojson::object();
    e["reason"] = x.reason;
    e["message"] = x.message;
    if (x.retry_after_ms)
      e["retry_after_ms"] = *x.retry_after_ms;
    j["error"] = std::move(e);
  }
  return dump(j);
}

std::string encode_event(const proto::event& x, std::uint64_t seq) {
  using k = proto::event_kind;
  ojson d = ojson::object();
  auto opt = [&d](const char* key, const std::string& v) {
    if (!v.empty())
      d[key] = v;
  };
  switch (x.kind) {
    case k::invite:
      d["from"] = x.from;
      d["title"] = x.title;
      d["ring_expires_at"] = x.ring_expires_at;
      if (x.creds)
        d["credentials"] = to_json(*x.creds);
      break;
    case k::ringing:
    case k::accepted:
    case k::joined:
      d["user"] = x.user;
      break;
    case k::declined:
    case k::invite_timeout:
      d["user"] = x.user;
      opt("reason", x.reason);
      break;
    case k::left:
      d["user"] = x.user;
      d["reason"] = x.reason;
      break;
    case k::canceled:
    case k::answered_elsewhere:
      opt("by", x.by);
      break;
    case k::ended:
      d["reason"] = x.reason;
      break;
    case k::kicked:
      d["by"] = x.by;
      break;
    case k::mute_request:
      if (x.audio)
        d["audio"] = *x.audio;
      if (x.video)
        d["video"] = *x.video;
      d["by"] = x.by;
      break;
    case k::role_changed:
      d["user"] = x.user;
      if (x.new_role)
        d["role"] = to_string(*x.new_role);
      break;
    case k::participant:
      if (x.participant)
        d = to_json(*x.participant);
      break;
    case k::token_expiring:
      d["expires_at"] = x.expires_at;
      break;
  }
  ojson j = ojson::object();
  j["type"] = to_string(x.kind);
  j["seq"] = seq;
  j["meeting"] = x.meeting;
  j["data"] = std::move(d);
  return dump(j);
}

std::optional<proto::reply> decode_reply(std::string_view payload) {
  auto j = parse_bounded<ojson>(payload);
  if (!j.is_object())
    return std::nullopt;
  auto type = member(j, "type");
  if (!type || !type->is_string() || type->get<std::string>() != "reply")
    return std::nullopt;
  proto::reply r;
  auto id = j.find("id");
  if (id != j.end() && !id->is_null()) {
    if (!id->is_string())
      return std::nullopt;
    r.id = id->get<std::string>();
  }
  auto code = member(j, "code");
  if (!code)
    return std::nullopt;
  auto c = as_int64(*code);
  if (!c || *c < 0 || *c > 999)
    return std::nullopt;
  r.code = static_cast<int>(*c);
  field_reader fr;
  if (r.code != 0) {
    if (auto e = fr.obj(j, "error")) {
      fr.str(*e, "reason", r.reason);
      fr.str(*e, "message", r.message);
      if (member(*e, "retry_after_ms")) {
        std::int64_t ms = 0;
        fr.i64(*e, "retry_after_ms", ms);
        r.retry_after_ms = ms;
      }
    }
  } else if (auto d = fr.obj(j, "data")) {
    r.data = decode_data(*d, fr);
  }
  if (!fr.ok)
    return std::nullopt;
  return r;
}

std::optional<std::pair<proto::event, std::uint64_t>>
decode_event(std::string_view payload) {
  using k = proto::event_kind;
  auto j = parse_bounded<ojson>(payload);
  if (!j.is_object())
    return std::nullopt;
  auto type = member(j, "type");
  if (!type || !type->is_string())
    return std::nullopt;
  auto kind = proto::parse_event_kind(type->get<std::string>());
  if (!kind)
    return std::nullopt;
  auto seq = member(j, "seq");
  if (!seq || !seq->is_number_integer())
    return std::nullopt;
  if (!seq->is_number_unsigned())
    return std::nullopt; // a negative sequence number
  proto::event ev;
  ev.kind = *kind;
  field_reader fr;
  fr.str(j, "meeting", ev.meeting);
  static const ojson empty = ojson::object();
  auto dp = fr.obj(j, "data");
  const ojson& d = dp ? *dp : empty;
  switch (*kind) {
    case k::invite:
      fr.str(d, "from", ev.from);
      fr.str(d, "title", ev.title);
      fr.i64(d, "ring_expires_at", ev.ring_expires_at);
      if (auto c = fr.obj(d, "credentials"))
        ev.creds = fr.creds(*c);
      break;
    case k::participant:
      if (!d.empty()) {
        ev.participant = fr.participant(d);
        ev.user = ev.participant->user;
      }
      break;
    case k::role_changed: {
      fr.str(d, "user", ev.user);
      role r = role::member;
      if (member(d, "role")) {
        fr.enumeration(d, "role", parse_role, r);
        ev.new_role = r;
      }
      break;
    }
    default:
      fr.str(d, "user", ev.user);
      fr.str(d, "by", ev.by);
      fr.str(d, "reason", ev.reason);
      fr.i64(d, "expires_at", ev.expires_at);
      fr.opt_bool(d, "audio", ev.audio);
      fr.opt_bool(d, "video", ev.video);
      break;
  }
  if (!fr.ok)
    return std::nullopt;
  return std::make_pair(std::move(ev), seq->get<std::uint64_t>());
}

std::string encode_request(const proto::request& x) {
  using k = proto::command_kind;
  const auto& c = x.cmd;
  ojson a = ojson::object();
  auto ids = [](const std::vector<std::string>& xs) {
    ojson arr = ojson::array();
    for (const auto& s : xs)
      arr.push_back(s);
    return arr;
  };
  auto audio_video = [&] {
    if (c.audio)
      a["audio"] = *c.audio;
    if (c.video)
      a["video"] = *c.video;
  };
  switch (c.kind) {
    case k::auth_login:
      a["user"] = c.user;
      if (c.password)
        a["password"] = *c.password;
      if (c.ticket)
        a["ticket"] = *c.ticket;
      break;
    case k::auth_logout:
    case k::admin_ping:
    case k::admin_stats:
      break;
    case k::meeting_create:
      if (c.title)
        a["title"] = *c.title;
      if (!c.users.empty())
        a["invitees"] = ids(c.users);
      if (c.requested_id)
        a["meeting"] = *c.requested_id;
      if (c.max_participants)
        a["max_participants"] = *c.max_participants;
      if (c.policy)
        a["invite_policy"] = to_string(*c.policy);
      break;
    case k::meeting_join:
    case k::meeting_leave:
    case k::meeting_end:
    case k::meeting_get:
    case k::meeting_renew:
    case k::call_ringing:
    case k::call_accept:
    case k::moderate_lock:
    case k::moderate_unlock:
    case k::admin_meeting_get:
      a["meeting"] = c.meeting;
      break;
    case k::call_invite:
      a["meeting"] = c.meeting;
      a["users"] = ids(c.users);
      break;
    case k::call_cancel:
      a["meeting"] = c.meeting;
      if (!c.users.empty())
        a["users"] = ids(c.users);
      break;
    case k::call_decline:
    case k::admin_meeting_end:
      a["meeting"] = c.meeting;
      if (c.reason)
        a["reason"] = *c.reason;
      break;
    case k::moderate_kick:
    case k::admin_kick:
      a["meeting"] = c.meeting;
      a["user"] = c.user;
      break;
    case k::moderate_mute:
    case k::moderate_unmute:
      a["meeting"] = c.meeting;
      a["user"] = c.user;
      audio_video();
      break;
    case k::moderate_mute_all:
    case k::moderate_unmute_all:
    case k::admin_mute_all:
      a["meeting"] = c.meeting;
      audio_video();
      break;
    case k::moderate_set_role:
      a["meeting"] = c.meeting;
      a["user"] = c.user;
      if (c.new_role)
        a["role"] = to_string(*c.new_role);
      break;
    case k::rtc_event:
      a["meeting"] = c.meeting;
      if (c.event)
        a["event"] = to_string(*c.event);
      break;
    case k::admin_meetings_list:
      if (c.state)
        a["state"] = to_string(*c.state);
      if (!c.user.empty())
        a["user"] = c.user;
      if (c.limit)
        a["limit"] = *c.limit;
      if (c.after)
        a["after"] = *c.after;
      break;
    case k::admin_users_list:
      if (c.limit)
        a["limit"] = *c.limit;
      if (c.after)
        a["after"] = *c.after;
      break;
    case k::admin_user_add:
      a["user"] = c.user;
      if (c.password)
        a["password"] = *c.password;
      if (c.display_name)
        a["display_name"] = *c.display_name;
      break;
    case k::admin_user_remove:
      a["user"] = c.user;
      break;
  }
  ojson j = ojson::object();
  j["id"] = x.id;
  j["type"] = proto::to_string(c.kind);
  if (!a.empty())
    j["args"] = std::move(a);
  return dump(j);
}

std::optional<bool> decode_presence(std::string_view payload) {
  if (payload.size() > max_payload_bytes)
    return std::nullopt;
  auto j = parse_bounded<json>(payload);
  if (!j.is_object())
    return std::nullopt;
  auto v = member(j, "online");
  if (!v || !v->is_boolean())
    return std::nullopt;
  return v->get<bool>();
}

std::string encode_presence(bool online) {
  return online ? R"({"online":true})" : R"({"online":false})";
}

std::string encode_node_status(std::string_view state, std::string_view node,
                               std::string_view version) {
  ojson j = ojson::object();
  j["state"] = std::string{state};
  j["node"] = std::string{node};
  j["version"] = std::string{version};
  return dump(j);
}

} // namespace meetingd::codec
