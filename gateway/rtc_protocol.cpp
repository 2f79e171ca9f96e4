// The RTC OpenAPI client's functional core: see rtc_protocol.hpp.
#include "gateway/rtc_protocol.hpp"

#include "actors/core/crypto.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

namespace meetingd::rtc {

namespace {

using json = nlohmann::json;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// At most 200 bytes of a body, for messages.
std::string excerpt(std::string_view body) {
  constexpr std::size_t limit = 200;
  if (body.size() <= limit)
    return std::string{body};
  return std::string{body.substr(0, limit)} + "...";
}

/// A string member, or a number written in decimal; empty otherwise.
std::string text_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end())
    return {};
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_number_integer() || it->is_number_unsigned() || it->is_boolean())
    return it->dump();
  return {};
}

/// A whole number given as a JSON number or a decimal string.
std::optional<std::int64_t> integer_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end())
    return std::nullopt;
  if (it->is_number_integer())
    return it->get<std::int64_t>();
  if (it->is_number_unsigned()) {
    auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (it->is_number_float()) {
    auto v = it->get<double>();
    if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9.0e15)
      return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
      return std::nullopt;
    return v;
  }
  return std::nullopt;
}

/// Reads each element of the list `key`, given as an array or as
/// `{"<inner>": [...]}` (the shape Aliyun's XML-to-JSON conversion produces),
/// with `take`, which is false for an element it cannot use. An absent list
/// is fine (nothing reported); the error message otherwise names `what` the
/// answer is and the element refused.
template <class Take>
std::optional<std::string> each_of(const json& obj, const char* what, const char* key,
                                   const char* inner, const char* refused, Take take) {
  auto it = obj.find(key);
  if (it == obj.end())
    return std::nullopt;
  const json* list = it->is_array() ? &*it : nullptr;
  if (it->is_object()) {
    auto in = it->find(inner);
    if (in != it->end() && in->is_array())
      list = &*in;
  }
  if (!list)
    return std::string{what} + " answer with " + key + " neither a list nor {\"" + inner
           + "\": [...]}";
  for (const auto& x : *list)
    if (!take(x))
      return std::string{what} + " answer with " + refused;
  return std::nullopt;
}

failure make_failure(int http_status, std::string code, std::string message,
                     std::string request_id) {
  failure f;
  f.kind = is_retryable(http_status, code) ? failure_kind::unavailable : failure_kind::refused;
  f.http_status = http_status;
  f.code = std::move(code);
  f.message = std::move(message);
  f.request_id = std::move(request_id);
  return f;
}

answer invalid(int http_status, std::string message, std::string request_id = {}) {
  answer a;
  a.request_id = request_id;
  a.error = make_failure(http_status, std::string{codes::invalid_response}, std::move(message),
                         std::move(request_id));
  return a;
}

/// Fills the action's fields of a successful answer; an error message if the
/// body lacks what the action needs.
std::optional<std::string> read_success(action act, const json& body, answer& out) {
  switch (act) {
    case action::create_channel: {
      auto key = body.find("ChannelKey");
      if (key == body.end() || !key->is_string() || key->get_ref<const std::string&>().empty())
        return "CreateChannel answer without ChannelKey";
      auto nonce = body.find("Nonce");
      if (nonce == body.end() || !nonce->is_string())
        return "CreateChannel answer without Nonce";
      auto ts = integer_of(body, "Timestamp");
      if (!ts)
        return "CreateChannel answer without a numeric Timestamp";
      out.grant.channel_key = key->get<std::string>();
      out.grant.nonce = nonce->get<std::string>();
      out.grant.timestamp = *ts;
      return std::nullopt;
    }
    case action::delete_channel:
      return std::nullopt;
    case action::remove_terminals:
      return each_of(body, "RemoveTerminals", "Terminals", "Terminal",
                     "a terminal that is not an object", [&out](const json& t) {
                       if (t.is_object())
                         out.terminals.push_back(
                           {text_of(t, "Id"), text_of(t, "Code"), text_of(t, "Message")});
                       return t.is_object();
                     });
    case action::describe_channel_users: {
      auto exists = body.find("IsChannelExist");
      if (exists != body.end()) {
        if (exists->is_boolean())
          out.channel_exists = exists->get<bool>();
        else if (exists->is_string())
          out.channel_exists = exists->get_ref<const std::string&>() == "true";
        else
          return "DescribeChannelUsers answer with a non-boolean IsChannelExist";
      }
      return each_of(body, "DescribeChannelUsers", "UserList", "User",
                     "a user id that is not a string", [&out](const json& u) {
                       if (u.is_string())
                         out.users.push_back(u.get<std::string>());
                       return u.is_string();
                     });
    }
  }
  return "unknown action";
}

} // namespace

const char* to_string(action a) {
  // The OpenAPI's action names, in the order of the enum.
  static constexpr const char* names[]
    = {"CreateChannel", "DeleteChannel", "RemoveTerminals", "DescribeChannelUsers"};
  auto at = static_cast<std::size_t>(a);
  return at < std::size(names) ? names[at] : "Unknown";
}

const char* to_string(circuit_breaker::state s) {
  switch (s) {
    case circuit_breaker::state::closed:
      return "closed";
    case circuit_breaker::state::open:
      return "open";
    case circuit_breaker::state::half_open:
      return "half_open";
  }
  return "unknown";
}

// --- requests ---------------------------------------------------------------

rpc_params action_params(action a, std::string_view app_id, std::string_view channel,
                         const std::vector<std::string>& terminal_ids) {
  rpc_params p;
  p.emplace("AppId", std::string{app_id});
  p.emplace("ChannelId", std::string{channel});
  if (a == action::remove_terminals)
    for (std::size_t i = 0; i < terminal_ids.size(); ++i)
      p.emplace("TerminalIds." + std::to_string(i + 1), terminal_ids[i]);
  return p;
}

std::string request_url(const settings& s, action a, const rpc_params& own,
                        std::int64_t unix_seconds, std::string_view nonce) {
  auto p = common_params(to_string(a), s.access_key_id, s.region_id, unix_seconds, nonce);
  for (const auto& [k, v] : own)
    p[k] = v; // the action's parameters never collide with the common ones
  std::string_view base = s.endpoint;
  while (!base.empty() && base.back() == '/')
    base.remove_suffix(1);
  std::string url{base};
  url += "/?";
  url += signed_query("GET", std::move(p), s.access_key_secret);
  return url;
}

std::string request_url(const settings& s, action a, const rpc_params& own,
                        std::int64_t unix_seconds) {
  return request_url(s, a, own, unix_seconds, crypto::uuid4());
}

std::vector<std::vector<std::string>> split_terminals(const std::vector<std::string>& ids,
                                                      std::size_t per_call) {
  per_call = std::max<std::size_t>(per_call, 1);
  std::vector<std::vector<std::string>> out;
  for (std::size_t i = 0; i < ids.size(); i += per_call) {
    auto end = std::min(ids.size(), i + per_call);
    out.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(i),
                     ids.begin() + static_cast<std::ptrdiff_t>(end));
  }
  if (out.empty())
    out.emplace_back();
  return out;
}

// --- answers ----------------------------------------------------------------

bool is_retryable(int http_status, std::string_view code) {
  if (code == "SignatureDoesNotMatch" || starts_with(code, "InvalidAccessKeyId")
      || starts_with(code, "Forbidden"))
    return false;
  if (http_status == 0 || http_status >= 500 || http_status == 429)
    return true;
  return starts_with(code, "Throttling");
}

bool retryable(const failure& f) {
  return f.code != codes::circuit_open && is_retryable(f.http_status, f.code);
}

answer parse_answer(action act, int http_status, std::string_view body,
                    std::string_view transport_error) {
  if (http_status == 0) {
    answer a;
    a.error = make_failure(0, std::string{codes::transport_error},
                           transport_error.empty() ? "transport error"
                                                   : std::string{transport_error},
                           {});
    return a;
  }
  auto doc = json::parse(body.begin(), body.end(), nullptr, false);
  bool is_obj = !doc.is_discarded() && doc.is_object();
  std::string request_id = is_obj ? text_of(doc, "RequestId") : std::string{};
  if (http_status < 200 || http_status >= 300) {
    std::string code = is_obj ? text_of(doc, "Code") : std::string{};
    if (code.empty())
      return invalid(http_status,
                     "HTTP " + std::to_string(http_status)
                       + " without an RTC error body: " + excerpt(body),
                     request_id);
    answer a;
    a.request_id = request_id;
    a.error = make_failure(http_status, std::move(code), text_of(doc, "Message"), request_id);
    return a;
  }
  if (!is_obj)
    return invalid(http_status,
                   std::string{to_string(act)} + " answer is not a JSON object: " + excerpt(body));
  answer a;
  a.request_id = request_id;
  if (auto problem = read_success(act, doc, a))
    return invalid(http_status, std::move(*problem), request_id);
  return a;
}

answer merge_answers(std::vector<answer> parts) {
  answer out;
  for (auto& part : parts) {
    if (!part.request_id.empty()) {
      if (!out.request_id.empty())
        out.request_id += ',';
      out.request_id += part.request_id;
    }
    out.attempts += part.attempts;
    if (part.error && !out.error)
      out.error = std::move(part.error);
    for (auto& t : part.terminals)
      out.terminals.push_back(std::move(t));
  }
  return out;
}

bool channel_is_gone(const answer& delete_answer) {
  if (delete_answer.ok())
    return true;
  auto& e = *delete_answer.error;
  auto not_found = std::string_view{"NotFound"};
  bool ends_not_found = e.code.size() >= not_found.size()
                        && e.code.compare(e.code.size() - not_found.size(), not_found.size(),
                                          not_found) == 0;
  return e.kind == failure_kind::refused && ends_not_found
         && e.code.find("Channel") != std::string::npos;
}

// --- backoff ----------------------------------------------------------------

std::chrono::milliseconds backoff_ceiling(const settings& s, int retry) {
  return meetingd::backoff_ceiling(s.backoff_base, s.backoff_cap, retry);
}

// --- circuit breaker --------------------------------------------------------

circuit_breaker::circuit_breaker(int threshold, std::chrono::milliseconds cooldown)
  : threshold_(threshold), cooldown_(cooldown) {
}

bool circuit_breaker::allow(clock::time_point now) {
  switch (state_) {
    case state::closed:
      return true;
    case state::open:
      if (now < retry_at_)
        return false;
      state_ = state::half_open;
      probe_in_flight_ = true;
      return true;
    case state::half_open:
      if (probe_in_flight_)
        return false;
      probe_in_flight_ = true;
      return true;
  }
  return true;
}

void circuit_breaker::record(bool unavailable, clock::time_point now) {
  if (threshold_ <= 0)
    return;
  if (!unavailable) {
    state_ = state::closed;
    failures_ = 0;
    probe_in_flight_ = false;
    return;
  }
  switch (state_) {
    case state::closed:
      if (++failures_ >= threshold_) {
        state_ = state::open;
        retry_at_ = now + cooldown_;
      }
      break;
    case state::half_open:
      ++failures_;
      state_ = state::open;
      probe_in_flight_ = false;
      retry_at_ = now + cooldown_;
      break;
    case state::open:
      ++failures_; // a call from before the circuit opened; keep the cooldown
      break;
  }
}

failure circuit_breaker::open_failure(clock::time_point now) const {
  failure f;
  f.kind = failure_kind::unavailable;
  f.code = std::string{codes::circuit_open};
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  if (state_ == state::half_open) {
    f.message = "the RTC service is considered down after " + std::to_string(failures_)
                + " consecutive failures; a trial call is in progress, others fail fast "
                  "until it succeeds";
  } else {
    auto left = std::max<std::int64_t>(duration_cast<milliseconds>(retry_at_ - now).count(), 0);
    f.message = "the RTC service is considered down after " + std::to_string(failures_)
                + " consecutive failures; calls fail fast and it is retried in "
                + std::to_string(left) + " ms";
  }
  return f;
}

} // namespace meetingd::rtc
