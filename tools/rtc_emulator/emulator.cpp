#include "tools/rtc_emulator/emulator.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <limits>

#include "actors/core/crypto.hpp"
#include "config/duration_text.hpp"
#include "gateway/rtc_signing.hpp"
#include "actors/core/rtc_token.hpp"

namespace meetingd::emulator {

namespace {

constexpr std::array<std::string_view, 4> known_actions = {
    "CreateChannel", "DeleteChannel", "RemoveTerminals", "DescribeChannelUsers"};

// Checked in this order; the first one missing is named in the error.
constexpr std::array<std::string_view, 9> required_common = {
    "Format",         "Version",   "AccessKeyId", "SignatureMethod", "Timestamp",
    "SignatureVersion", "SignatureNonce", "Signature", "Action"};

bool is_known_action(std::string_view a) {
  return std::find(known_actions.begin(), known_actions.end(), a) != known_actions.end();
}

const std::string* get(const rtc::rpc_params& p, std::string_view name) {
  auto it = p.find(std::string{name});
  if (it == p.end() || it->second.empty())
    return nullptr;
  return &it->second;
}

reply error(int status, std::string_view request_id, std::string_view code,
            std::string_view message) {
  reply r;
  r.status = status;
  r.code = std::string{code};
  r.request_id = std::string{request_id};
  r.body = error_body(request_id, code, message);
  return r;
}

std::string missing_message(std::string_view name) {
  return "The input parameter \"" + std::string{name}
         + "\" that is mandatory for processing this request is not supplied.";
}

// Control-endpoint error: {"Code","Message"}.
reply control_error(int status, std::string_view code, std::string message) {
  reply r;
  r.status = status;
  r.code = std::string{code};
  r.body = json{{"Code", code}, {"Message", std::move(message)}};
  return r;
}

reply control_ok(json body) {
  reply r;
  r.status = 200;
  r.body = std::move(body);
  return r;
}

std::string default_code(int status) {
  switch (status) {
    case 503: return "ServiceUnavailable";
    case 500: return "InternalError";
    case 429: return "Throttling.User";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    default: return status >= 500 ? "InternalError" : "InvalidParameter";
  }
}

std::string default_message(int status) {
  if (status == 503)
    return "The request has failed due to a temporary failure of the server.";
  if (status == 429)
    return "Request was denied due to user flow control.";
  if (status >= 500)
    return "The request processing has failed due to some unknown error, exception or failure.";
  return "The request was refused (fault injected by rtc-emulator).";
}

// Reads an optional string field; false (with `why`) if present but not a string.
bool read_string(const json& body, const char* name, std::optional<std::string>& out,
                 std::string& why) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null())
    return true;
  if (!it->is_string()) {
    why = std::string{"field '"} + name + "' must be a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

// Reads an optional integer field (a JSON integer, or a string of digits as
// some clients send timestamps).
bool read_int(const json& body, const char* name, std::optional<std::int64_t>& out,
              std::string& why) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null())
    return true;
  if (it->is_number_integer()) {
    out = it->get<std::int64_t>();
    return true;
  }
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
    if (i < s.size() && s.size() - i <= 18
        && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                       [](unsigned char c) { return std::isdigit(c) != 0; })) {
      out = std::strtoll(s.c_str(), nullptr, 10);
      return true;
    }
  }
  why = std::string{"field '"} + name + "' must be an integer";
  return false;
}

std::string ascii_upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

// --- free functions ------------------------------------------------------------

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  return parse_duration_text(text, duration_style::option);
}

json error_body(std::string_view request_id, std::string_view code, std::string_view message) {
  return json{{"RequestId", request_id},
              {"HostId", host_id},
              {"Code", code},
              {"Message", message}};
}

std::string new_request_id() {
  return ascii_upper(crypto::uuid4());
}

json fault::to_json() const {
  json j{{"id", id},       {"action", action},         {"count", count},
         {"latency_ms", latency_ms}, {"drop", drop}, {"hits", hits}};
  if (status) {
    j["status"] = *status;
    j["code"] = code;
    j["message"] = message;
  }
  return j;
}

json emulator::channel::to_json() const {
  return json{{"channel", channel_id},
              {"app", app_id},
              {"users", users},
              {"expires_at", timestamp()},
              {"created_at", created_ms / 1000}};
}

// --- emulator ---------------------------------------------------------------------

emulator::emulator(options opts) : opts_(std::move(opts)) {}

reply emulator::openapi(std::string_view method, const rtc::rpc_params& params,
                        std::int64_t now_ms) {
  const std::string request_id = new_request_id();
  std::lock_guard lock{mu_};

  std::string action;
  if (auto a = get(params, "Action"))
    action = *a;
  auto& counts = stats_[is_known_action(action) ? action : std::string{"(other)"}];
  ++counts.requests;

  // Faults first: they model the service (or the path to it) failing, whatever
  // the request says. Latency of every matching fault adds up; the first
  // matching fault that fails the request decides how.
  auto delay = opts_.latency;
  const fault* failing = nullptr;
  fault failing_copy;
  for (auto it = faults_.begin(); it != faults_.end();) {
    if (it->action != "*" && it->action != action) {
      ++it;
      continue;
    }
    const bool fails = it->drop || it->status.has_value();
    const bool decides = fails && failing == nullptr;
    if (it->latency_ms == 0 && !decides) {
      ++it; // matches, but contributes nothing: not consumed
      continue;
    }
    delay += std::chrono::milliseconds{it->latency_ms};
    ++it->hits;
    if (decides) {
      failing_copy = *it;
      failing = &failing_copy;
    }
    if (it->count > 0 && --it->count == 0)
      it = faults_.erase(it);
    else
      ++it;
  }

  reply r;
  if (failing) {
    ++counts.failed;
    ++counts.injected;
    if (failing->drop) {
      r.drop = true;
      r.status = 0;
      r.code = "dropped";
      r.request_id = request_id;
    } else {
      r = error(*failing->status, request_id, failing->code, failing->message);
    }
    r.injected = true;
  } else {
    r = openapi_locked(method, params, now_ms, request_id);
    if (r.status == 200)
      ++counts.ok;
    else
      ++counts.failed;
  }
  r.delay = delay;
  r.action = action;
  if (auto c = get(params, "ChannelId"))
    r.channel = *c;
  return r;
}

reply emulator::openapi_locked(std::string_view method, const rtc::rpc_params& params,
                               std::int64_t now_ms, const std::string& rid) {
  for (auto name : required_common)
    if (!get(params, name))
      return error(400, rid, "MissingParameter", missing_message(name));

  if (*get(params, "AccessKeyId") != opts_.access_key_id)
    return error(404, rid, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");

  if (!rtc::verify(method, params, opts_.access_key_secret)) {
    auto unsigned_params = params;
    unsigned_params.erase("Signature");
    return error(400, rid, "SignatureDoesNotMatch",
                 "Specified signature is not matched with our calculation. server string to "
                 "sign is:"
                     + rtc::string_to_sign(method, unsigned_params));
  }

  auto ts = rtc::parse_timestamp(*get(params, "Timestamp"));
  if (!ts)
    return error(400, rid, "InvalidTimeStamp.Format",
                 "Specified time stamp or date value is not well formatted.");
  if (std::llabs(*ts * 1000 - now_ms) > skew_ms)
    return error(400, rid, "InvalidTimeStamp.Expired",
                 "Specified time stamp or date value is expired.");

  purge_nonces(now_ms);
  auto nonce_key = *get(params, "AccessKeyId") + '\n' + *get(params, "SignatureNonce");
  if (nonces_.count(nonce_key))
    return error(400, rid, "SignatureNonceUsed", "Specified signature nonce was used already.");
  nonces_.emplace(nonce_key, now_ms);
  nonce_order_.emplace_back(now_ms, std::move(nonce_key));

  if (*get(params, "Version") != api_version)
    return error(400, rid, "InvalidVersion", "Specified parameter Version is not valid.");
  if (*get(params, "SignatureMethod") != "HMAC-SHA1")
    return error(400, rid, "InvalidParameter",
                 "Specified parameter SignatureMethod is not valid.");
  if (*get(params, "SignatureVersion") != "1.0")
    return error(400, rid, "InvalidParameter",
                 "Specified parameter SignatureVersion is not valid.");
  if (ascii_upper(*get(params, "Format")) != "JSON")
    return error(400, rid, "InvalidParameter",
                 "Specified parameter Format is not valid (rtc-emulator answers JSON only).");

  const auto& action = *get(params, "Action");
  if (!is_known_action(action))
    return error(404, rid, "InvalidAction.NotFound",
                 "Specified api is not found, please check your url and method.");

  for (auto name : {"AppId", "ChannelId"})
    if (!get(params, name))
      return error(400, rid, "MissingParameter", missing_message(name));
  const auto& app = *get(params, "AppId");
  const auto& ch = *get(params, "ChannelId");

  if (action == "CreateChannel")
    return create_channel(app, ch, now_ms, rid);
  if (action == "DeleteChannel")
    return delete_channel(app, ch, now_ms, rid);
  if (action == "RemoveTerminals")
    return remove_terminals(app, ch, params, now_ms, rid);
  return describe_channel_users(app, ch, now_ms, rid);
}

reply emulator::create_channel(const std::string& app, const std::string& ch,
                               std::int64_t now_ms, const std::string& rid) {
  auto* c = find_channel(app, ch, now_ms);
  if (!c) {
    channel fresh;
    fresh.app_id = app;
    fresh.channel_id = ch;
    fresh.created_ms = now_ms;
    fresh.expires_ms = now_ms + opts_.channel_ttl.count();
    c = &channels_.emplace(channel_key{app, ch}, std::move(fresh)).first->second;
  }
  // A channel made implicitly by an appkey join has no key yet; an existing
  // keyed channel answers the same key again so a lost answer can be retried.
  if (c->key.empty()) {
    c->key = crypto::random_hex(16);
    c->nonce = "AK-" + crypto::random_hex(4);
  }
  reply r;
  r.request_id = rid;
  r.body = json{{"RequestId", rid},
                {"ChannelKey", c->key},
                {"Nonce", c->nonce},
                {"Timestamp", c->timestamp()}};
  return r;
}

reply emulator::delete_channel(const std::string& app, const std::string& ch,
                               std::int64_t now_ms, const std::string& rid) {
  if (!find_channel(app, ch, now_ms))
    return error(404, rid, "InvalidChannelId.NotFound", "Specified channel is not found.");
  channels_.erase(channel_key{app, ch});
  reply r;
  r.request_id = rid;
  r.body = json{{"RequestId", rid}};
  return r;
}

reply emulator::remove_terminals(const std::string& app, const std::string& ch,
                                 const rtc::rpc_params& params, std::int64_t now_ms,
                                 const std::string& rid) {
  static constexpr std::string_view prefix = "TerminalIds.";
  std::map<std::uint64_t, std::string> ids; // by index, so in the order given
  for (auto it = params.lower_bound(std::string{prefix});
       it != params.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    auto index = std::string_view{it->first}.substr(prefix.size());
    if (index.empty() || index.size() > 6 || index[0] == '0'
        || !std::all_of(index.begin(), index.end(),
                        [](unsigned char c) { return std::isdigit(c) != 0; }))
      return error(400, rid, "InvalidParameter",
                   "Specified parameter " + it->first + " is not valid.");
    if (it->second.empty())
      return error(400, rid, "InvalidParameter",
                   "Specified parameter " + it->first + " is empty.");
    ids.emplace(std::stoull(std::string{index}), it->second);
  }
  if (ids.empty())
    return error(400, rid, "InvalidParameter",
                 "Specified parameter TerminalIds is not valid: 1 to 30 terminal ids are "
                 "required.");
  if (ids.size() > max_terminals)
    return error(400, rid, "InvalidParameter",
                 "Specified parameter TerminalIds is not valid: at most 30 terminal ids, got "
                     + std::to_string(ids.size()) + ".");

  auto* c = find_channel(app, ch, now_ms);
  if (!c)
    return error(404, rid, "InvalidChannelId.NotFound", "Specified channel is not found.");

  json terminals = json::array();
  for (auto& [index, id] : ids) {
    auto pos = std::find(c->users.begin(), c->users.end(), id);
    if (pos != c->users.end()) {
      c->users.erase(pos);
      terminals.push_back({{"Id", id}, {"Code", "OK"}, {"Message", ""}});
    } else {
      terminals.push_back({{"Id", id},
                           {"Code", "TerminalNotFound"},
                           {"Message", "The terminal is not in the channel."}});
    }
  }
  reply r;
  r.request_id = rid;
  r.body = json{{"RequestId", rid}, {"Terminals", {{"Terminal", std::move(terminals)}}}};
  return r;
}

reply emulator::describe_channel_users(const std::string& app, const std::string& ch,
                                       std::int64_t now_ms, const std::string& rid) {
  auto* c = find_channel(app, ch, now_ms);
  json users = c ? json(c->users) : json::array();
  auto n = static_cast<std::int64_t>(users.size());
  reply r;
  r.request_id = rid;
  r.body = json{{"RequestId", rid},
                {"IsChannelExist", c != nullptr},
                {"UserList", users},
                {"InteractiveUserList", users},
                {"LiveUserList", json::array()},
                {"Timestamp", now_ms / 1000},
                {"ChannelProfile", 1},
                {"CommTotalNum", n},
                {"InteractiveUserNum", n},
                {"LiveUserNum", 0}};
  return r;
}

emulator::channel* emulator::find_channel(const std::string& app, const std::string& ch,
                                          std::int64_t now_ms) {
  auto it = channels_.find(channel_key{app, ch});
  if (it == channels_.end())
    return nullptr;
  if (now_ms >= it->second.expires_ms) {
    channels_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void emulator::purge_expired(std::int64_t now_ms) {
  for (auto it = channels_.begin(); it != channels_.end();)
    if (now_ms >= it->second.expires_ms)
      it = channels_.erase(it);
    else
      ++it;
}

void emulator::purge_nonces(std::int64_t now_ms) {
  while (!nonce_order_.empty() && nonce_order_.front().first <= now_ms - skew_ms) {
    auto found = nonces_.find(nonce_order_.front().second);
    if (found != nonces_.end() && found->second == nonce_order_.front().first)
      nonces_.erase(found);
    nonce_order_.pop_front();
  }
}

// --- control endpoints ------------------------------------------------------------

reply emulator::join(const json& body, std::int64_t now_ms) {
  if (!body.is_object())
    return control_error(400, "InvalidParameter", "the body must be a JSON object");
  std::optional<std::string> app, ch, user, session, nonce, token;
  std::optional<std::int64_t> ts;
  std::string why;
  if (!read_string(body, "appid", app, why) || !read_string(body, "channel", ch, why)
      || !read_string(body, "userid", user, why) || !read_string(body, "session", session, why)
      || !read_string(body, "nonce", nonce, why) || !read_string(body, "token", token, why)
      || !read_int(body, "timestamp", ts, why))
    return control_error(400, "InvalidParameter", why);
  for (auto [name, present] : {std::pair{"appid", app && !app->empty()},
                               std::pair{"channel", ch && !ch->empty()},
                               std::pair{"userid", user && !user->empty()},
                               std::pair{"timestamp", ts.has_value()},
                               std::pair{"token", token && !token->empty()}})
    if (!present)
      return control_error(400, "MissingParameter", std::string{"missing field: "} + name);
  if (!session)
    session.emplace();
  if (!nonce)
    nonce.emplace();

  std::lock_guard lock{mu_};
  auto* c = find_channel(*app, *ch, now_ms);
  std::vector<std::string> reasons;
  std::string scheme;

  if (c && !c->key.empty()) {
    if (*nonce != c->nonce)
      reasons.emplace_back("channel scheme: nonce is not the channel's");
    else if (*ts != c->timestamp())
      reasons.emplace_back("channel scheme: timestamp is not the channel's");
    else if (!crypto::constant_time_equal(
                 *token, rtc::channel_token(*ch, c->key, *app, *user, *session, *nonce, *ts)))
      reasons.emplace_back("channel scheme: token does not match the channel key");
    else
      scheme = "channel";
  } else if (!c) {
    reasons.emplace_back("channel scheme: no such channel");
  } else {
    reasons.emplace_back("channel scheme: the channel has no channel key");
  }

  if (scheme.empty()) {
    if (!opts_.app_key) {
      reasons.emplace_back("appkey scheme: no app key configured (RTC_APP_KEY)");
    } else if (*ts * 1000 <= now_ms) {
      reasons.emplace_back("appkey scheme: token expired");
    } else if (!crypto::constant_time_equal(
                   *token, rtc::appkey_token(*app, *opts_.app_key, *ch, *user, *nonce, *ts))) {
      reasons.emplace_back("appkey scheme: token does not match the app key");
    } else {
      scheme = "appkey";
      if (!c) {
        channel fresh;
        fresh.app_id = *app;
        fresh.channel_id = *ch;
        fresh.created_ms = now_ms;
        fresh.expires_ms = now_ms + opts_.channel_ttl.count();
        c = &channels_.emplace(channel_key{*app, *ch}, std::move(fresh)).first->second;
      }
    }
  }

  if (scheme.empty()) {
    std::string message;
    for (auto& r : reasons)
      message += (message.empty() ? "" : "; ") + r;
    auto r = control_error(403, "InvalidToken", std::move(message));
    r.channel = *ch;
    return r;
  }
  if (std::find(c->users.begin(), c->users.end(), *user) == c->users.end())
    c->users.push_back(*user);
  auto r = control_ok(json{{"joined", true}, {"scheme", scheme}});
  r.channel = *ch;
  return r;
}

reply emulator::leave(const json& body, std::int64_t now_ms) {
  if (!body.is_object())
    return control_error(400, "InvalidParameter", "the body must be a JSON object");
  std::optional<std::string> app, ch, user;
  std::string why;
  if (!read_string(body, "appid", app, why) || !read_string(body, "channel", ch, why)
      || !read_string(body, "userid", user, why))
    return control_error(400, "InvalidParameter", why);
  if (!ch || ch->empty())
    return control_error(400, "MissingParameter", "missing field: channel");
  if (!user || user->empty())
    return control_error(400, "MissingParameter", "missing field: userid");

  std::lock_guard lock{mu_};
  purge_expired(now_ms);
  bool found = false, left = false;
  for (auto& [key, c] : channels_) {
    if (c.channel_id != *ch || (app && !app->empty() && c.app_id != *app))
      continue;
    found = true;
    auto pos = std::find(c.users.begin(), c.users.end(), *user);
    if (pos != c.users.end()) {
      c.users.erase(pos);
      left = true;
    }
  }
  if (!found)
    return control_error(404, "InvalidChannelId.NotFound", "no such channel: " + *ch);
  return control_ok(json{{"left", left}});
}

reply emulator::list_channels(std::int64_t now_ms) {
  std::lock_guard lock{mu_};
  purge_expired(now_ms);
  json list = json::array();
  for (auto& [key, c] : channels_)
    list.push_back(c.to_json());
  return control_ok(json{{"channels", std::move(list)}});
}

reply emulator::get_channel(std::string_view channel_id, std::string_view app_id,
                            std::int64_t now_ms) {
  std::lock_guard lock{mu_};
  purge_expired(now_ms);
  for (auto& [key, c] : channels_)
    if (c.channel_id == channel_id && (app_id.empty() || c.app_id == app_id))
      return control_ok(c.to_json());
  return control_error(404, "InvalidChannelId.NotFound",
                       "no such channel: " + std::string{channel_id});
}

reply emulator::add_fault(const json& body) {
  if (!body.is_object())
    return control_error(400, "InvalidParameter", "the body must be a JSON object");
  static const std::array<std::string_view, 7> fields = {
      "action", "status", "code", "message", "count", "latency_ms", "drop"};
  for (auto& [k, v] : body.items())
    if (std::find(fields.begin(), fields.end(), k) == fields.end())
      return control_error(400, "InvalidParameter", "unknown field '" + k + "'");

  fault f;
  std::optional<std::string> action, code, message;
  std::optional<std::int64_t> status, count, latency;
  std::string why;
  if (!read_string(body, "action", action, why) || !read_string(body, "code", code, why)
      || !read_string(body, "message", message, why) || !read_int(body, "status", status, why)
      || !read_int(body, "count", count, why) || !read_int(body, "latency_ms", latency, why))
    return control_error(400, "InvalidParameter", why);
  if (auto d = body.find("drop"); d != body.end() && !d->is_null()) {
    if (!d->is_boolean())
      return control_error(400, "InvalidParameter", "field 'drop' must be a boolean");
    f.drop = d->get<bool>();
  }
  if (action) {
    if (*action != "*" && !is_known_action(*action))
      return control_error(400, "InvalidParameter",
                           "field 'action' must be \"*\" or one of CreateChannel, "
                           "DeleteChannel, RemoveTerminals, DescribeChannelUsers");
    f.action = *action;
  }
  if (status && (*status < 400 || *status > 599))
    return control_error(400, "InvalidParameter", "field 'status' must be 400..599");
  if (count && (*count == 0 || *count < -1))
    return control_error(400, "InvalidParameter",
                         "field 'count' must be -1 (until cleared) or at least 1");
  if (latency && (*latency < 0 || *latency > 600'000))
    return control_error(400, "InvalidParameter", "field 'latency_ms' must be 0..600000");
  if (!status && (code || message) && !f.drop)
    status = 503;
  if (status) {
    f.status = static_cast<int>(*status);
    f.code = code && !code->empty() ? *code : default_code(f.status.value());
    f.message = message && !message->empty() ? *message : default_message(f.status.value());
  }
  f.count = count.value_or(-1);
  f.latency_ms = latency.value_or(0);
  if (!f.status && !f.drop && f.latency_ms == 0)
    return control_error(400, "InvalidParameter",
                         "a fault needs 'status', 'drop' or 'latency_ms' > 0");

  std::lock_guard lock{mu_};
  f.id = next_fault_id_++;
  faults_.push_back(f);
  return control_ok(json{{"fault", f.to_json()}});
}

reply emulator::list_faults() {
  std::lock_guard lock{mu_};
  json list = json::array();
  for (auto& f : faults_)
    list.push_back(f.to_json());
  return control_ok(json{{"faults", std::move(list)}});
}

reply emulator::clear_faults() {
  std::lock_guard lock{mu_};
  auto n = faults_.size();
  faults_.clear();
  return control_ok(json{{"cleared", n}});
}

reply emulator::clear_fault(std::int64_t id) {
  std::lock_guard lock{mu_};
  auto it = std::find_if(faults_.begin(), faults_.end(),
                         [id](const fault& f) { return f.id == id; });
  if (it == faults_.end())
    return control_error(404, "NotFound", "no such fault: " + std::to_string(id));
  faults_.erase(it);
  return control_ok(json{{"cleared", 1}});
}

reply emulator::stats() {
  std::lock_guard lock{mu_};
  json actions = json::object();
  counters total;
  for (auto& [name, c] : stats_) {
    actions[name] = json{{"requests", c.requests},
                         {"ok", c.ok},
                         {"failed", c.failed},
                         {"injected", c.injected}};
    total.requests += c.requests;
    total.ok += c.ok;
    total.failed += c.failed;
    total.injected += c.injected;
  }
  return control_ok(json{{"actions", std::move(actions)},
                         {"total",
                          {{"requests", total.requests},
                           {"ok", total.ok},
                           {"failed", total.failed},
                           {"injected", total.injected}}}});
}

reply emulator::reset() {
  std::lock_guard lock{mu_};
  channels_.clear();
  faults_.clear();
  nonces_.clear();
  nonce_order_.clear();
  stats_.clear();
  next_fault_id_ = 1;
  return control_ok(json{{"reset", true}});
}

std::size_t emulator::channel_count(std::int64_t now_ms) {
  std::lock_guard lock{mu_};
  purge_expired(now_ms);
  return channels_.size();
}

} // namespace meetingd::emulator
