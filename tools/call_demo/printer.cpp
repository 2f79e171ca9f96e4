#include "tools/call_demo/printer.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace meetingd::call_demo {

namespace {

constexpr const char* bold = "1";
constexpr const char* dim = "2";
constexpr const char* red = "31";
constexpr const char* green = "32";
constexpr const char* yellow = "33";
constexpr const char* magenta = "35";
constexpr const char* cyan = "36";

constexpr std::size_t device_width = 11;
constexpr std::size_t topic_width = 46;

/// Shown in full up to this many characters; longer credentials are cut.
constexpr std::size_t secret_keep = 8;

bool all_hex(const std::string& s) {
  for (unsigned char c : s)
    if (!std::isxdigit(c))
      return false;
  return true;
}

/// Tokens and TURN passwords (and any long hex string: a token by another
/// name) keep their first characters, enough to tell two apart.
bool is_long_credential(const std::string& key, const std::string& value) {
  if ((key == "token" || key == "password") && value.size() > 24)
    return true;
  return value.size() >= 32 && all_hex(value);
}

template <class Json>
void shorten(Json& j, const std::string& key) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items())
      shorten(v, k);
  } else if (j.is_array()) {
    for (auto& v : j)
      shorten(v, key);
  } else if (j.is_string()) {
    auto& s = j.template get_ref<std::string&>();
    if (is_long_credential(key, s))
      s = s.substr(0, secret_keep) + "…";
  }
}

std::string pad(const std::string& s, std::size_t width) {
  // Width in characters, counting UTF-8 continuation bytes as nothing.
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80)
      ++n;
  return n >= width ? s : s + std::string(width - n, ' ');
}

std::string printed_key(const std::string& device, const json& msg) {
  return device + '\n' + msg.dump();
}

} // namespace

color_mode parse_color_mode(const std::string& s) {
  if (s == "always")
    return color_mode::always;
  if (s == "never")
    return color_mode::never;
  return color_mode::auto_;
}

std::string display_json(const json& j) {
  json copy = j;
  shorten(copy, {});
  return copy.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

/// A payload as it was on the wire (keys in their order), shortened.
std::string display_payload(const std::string& payload) {
  auto wire = nlohmann::ordered_json::parse(payload, nullptr, false);
  if (wire.is_discarded())
    return json(payload).dump(-1, ' ', false, json::error_handler_t::replace);
  shorten(wire, {});
  return wire.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace

std::string device_name(const std::string& client_id) {
  auto at = client_id.rfind("@@@");
  return at == std::string::npos ? client_id : client_id.substr(at + 3);
}

printer::printer(std::FILE* out, color_mode mode, bool quiet)
  : out_(out), quiet_(quiet), start_(std::chrono::steady_clock::now()) {
  if (mode == color_mode::always) {
    color_ = true;
  } else if (mode == color_mode::never) {
    color_ = false;
  } else {
    const char* term = std::getenv("TERM");
    color_ = ::isatty(::fileno(out)) && !std::getenv("NO_COLOR")
             && !(term && std::strcmp(term, "dumb") == 0);
  }
}

std::string printer::paint(const char* code, const std::string& text) const {
  if (!color_)
    return text;
  return std::string{"\033["} + code + "m" + text + "\033[0m";
}

std::string printer::stamp() const {
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start_)
                .count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%4lld.%03lld", ms / 1000, ms % 1000);
  return paint(dim, buf);
}

void printer::line(const std::string& text) {
  std::fputs(text.c_str(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void printer::heading(int step, const std::string& title) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (quiet_)
    return;
  line("");
  auto number = step > 0 ? std::to_string(step) + ". " : std::string{};
  line(paint(bold, "── " + number + title + " ──"));
}

void printer::message(const std::string& device, bool outgoing, const std::string& topic,
                      const std::string& payload) {
  auto parsed = json::parse(payload, nullptr, false);
  bool is_json = !parsed.is_discarded();
  auto body = display_payload(payload);

  // Colour by kind: requests cyan, replies green (red if refused), events
  // yellow, presence and anything else plain.
  const char* tint = nullptr;
  if (outgoing) {
    tint = cyan;
  } else if (is_json && parsed.is_object()) {
    auto type = parsed.value("type", json()).is_string() ? parsed["type"].get<std::string>()
                                                         : std::string{};
    if (type == "reply")
      tint = parsed.value("code", json(0)) == json(0) ? green : red;
    else if (type.rfind("event.", 0) == 0)
      tint = yellow;
  }
  auto arrow = outgoing ? "→" : "←";
  auto text = "  " + stamp() + "  " + pad(device, device_width) + " "
              + (tint ? paint(tint, arrow) : std::string{arrow}) + " "
              + pad(topic, topic_width) + "  " + (tint ? paint(tint, body) : body);

  std::lock_guard<std::mutex> guard{mtx_};
  if (outgoing)
    ++sent_;
  else
    ++received_;
  if (!quiet_)
    line(text);
  if (!outgoing && is_json)
    ++printed_[printed_key(device, parsed)];
  cv_.notify_all();
}

void printer::http(const std::string& device, bool outgoing, const std::string& what,
                   const json& body) {
  auto arrow = outgoing ? "⇒" : "⇐";
  auto text = "  " + stamp() + "  " + pad(device, device_width) + " " + paint(magenta, arrow)
              + " "
              + (body.is_null() ? what : pad(what, topic_width) + "  " + paint(magenta, display_json(body)));
  std::lock_guard<std::mutex> guard{mtx_};
  if (!quiet_)
    line(text);
}

void printer::note(const std::string& text, tone t) {
  std::string mark = t == tone::ok ? paint(green, "✓") : t == tone::bad ? paint(red, "✗") : "•";
  std::lock_guard<std::mutex> guard{mtx_};
  if (!quiet_)
    line("  " + mark + " " + (t == tone::bad ? paint(red, text) : text));
}

void printer::summary(bool pass, const std::string& first_failure) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!quiet_)
    line("");
  line(paint(bold, "── summary ──"));
  line("  messages: " + std::to_string(sent_) + " sent, " + std::to_string(received_)
       + " received");
  if (pass)
    line("  " + paint(green, "PASS") + ": every expected reply and event arrived");
  else
    line("  " + paint(red, "FAIL") + ": " + first_failure);
}

void printer::error(const std::string& text) {
  std::lock_guard<std::mutex> guard{mtx_};
  line(paint(red, text));
}

void printer::wait_printed(const std::string& device, const json& msg,
                           std::chrono::milliseconds timeout) {
  auto key = printed_key(device, msg);
  std::unique_lock<std::mutex> lock{mtx_};
  cv_.wait_for(lock, timeout, [&] {
    auto i = printed_.find(key);
    return i != printed_.end() && i->second > 0;
  });
  auto i = printed_.find(key);
  if (i != printed_.end() && --i->second <= 0)
    printed_.erase(i);
}

std::size_t printer::sent() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return sent_;
}

std::size_t printer::received() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return received_;
}

} // namespace meetingd::call_demo
