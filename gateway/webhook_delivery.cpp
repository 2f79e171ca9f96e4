// Webhook delivery's functional core (see webhook_delivery.hpp).
#include "gateway/webhook_delivery.hpp"

#include "actors/core/crypto.hpp"
#include "gateway/codec.hpp"

namespace meetingd::webhooks {

std::string signature(std::string_view secret, std::string_view body) {
  return "sha256=" + crypto::hmac_sha256_hex(secret, body);
}

http_request request_for(const webhook_record& row, const settings& s) {
  http_request req;
  req.method = "POST";
  req.url = row.endpoint;
  req.body = row.body;
  req.timeout = s.timeout;
  req.headers = {"Content-Type: application/json",
                 "User-Agent: meetingd/" MEETINGD_VERSION,
                 "X-Meetingd-Event-Id: " + row.id,
                 "X-Meetingd-Event-Type: " + row.type,
                 "X-Meetingd-Signature: " + signature(s.secret, row.body),
                 // curl would otherwise wait a second for "100 Continue"
                 // before sending a body over 1 KiB.
                 "Expect:"};
  return req;
}

bool delivered(const http_result& r) {
  return r.status >= 200 && r.status < 300;
}

std::string failure_of(const http_result& r) {
  if (r.status != 0)
    return "HTTP " + std::to_string(r.status);
  return r.transport_error.empty() ? std::string{"no answer"} : r.transport_error;
}

bool expired(const webhook_record& row, unix_ms now, const settings& s) {
  return now - row.at >= s.max_age.count();
}

std::optional<std::string> url_problem(std::string_view url) {
  std::string_view rest;
  if (url.rfind("https://", 0) == 0)
    rest = url.substr(8);
  else if (url.rfind("http://", 0) == 0)
    rest = url.substr(7);
  else
    return "expected an http:// or https:// URL such as https://backend.example.com/meetingd";
  for (unsigned char c : url)
    if (c <= ' ' || c == 0x7f)
      return std::string{"contains a space or a control character"};
  auto host = rest.substr(0, rest.find_first_of("/?#"));
  host = host.substr(host.rfind('@') == std::string_view::npos ? 0 : host.rfind('@') + 1);
  if (host.empty() || host.front() == ':')
    return std::string{"names no host"};
  return std::nullopt;
}

std::vector<webhook_record> outbox_rows(const std::vector<webhook_event>& events,
                                        const std::vector<std::string>& urls) {
  std::vector<webhook_record> rows;
  rows.reserve(events.size() * urls.size());
  for (auto& ev : events) {
    auto body = codec::encode_webhook(ev);
    for (auto& url : urls) {
      webhook_record row;
      row.endpoint = url;
      row.meeting = ev.meeting;
      row.seq = ev.seq;
      row.id = ev.id();
      row.type = to_string(ev.type);
      row.at = ev.at;
      row.body = body;
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

} // namespace meetingd::webhooks
