// loadgen's connections: libmosquitto handles in non-threaded mode, driven
// with mosquitto_loop_read/write/misc over one epoll set per thread, so one
// thread serves thousands of devices (a thread per connection, as
// libmosquitto's own loop would have, does not scale to a benchmark's
// numbers). Whoever owns a connection hears of it through `link_events`,
// on the thread that drives the set.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

struct mosquitto;

namespace meetingd::loadgen {

struct link;

/// What a connection reports.
class link_events {
public:
  virtual ~link_events() = default;
  /// The broker's CONNACK (0: accepted).
  virtual void connected(link& l, int rc) = 0;
  /// The SUBACK of the one subscription; false if the broker refused it.
  virtual void subscribed(link& l, bool granted) = 0;
  virtual void message(link& l, std::string_view topic, std::string_view payload) = 0;
  /// The broker closed the connection (rc 0: after our DISCONNECT).
  virtual void disconnected(link& l, int rc) = 0;
  /// Reading, writing or the keepalive failed; the link is closed.
  virtual void lost(link& l, const std::string& why) = 0;
};

/// One MQTT connection; its owner derives from it.
struct link {
  mosquitto* m = nullptr;
  int fd = -1;
  bool out_armed = false; // EPOLLOUT is in the set
  link_events* events = nullptr;
  bool open() const {
    return m && fd >= 0;
  }
};

struct link_settings {
  std::string broker; // tcp://host:port
  std::string client_id;
  std::string username; // empty: no login
  std::string password;
  std::string will_topic; // empty: no last will
  std::string will_payload;
  int keepalive_s = 60;
};

/// libmosquitto's global state, for as long as this lives.
struct mqtt_library {
  mqtt_library();
  ~mqtt_library();
};

class link_set {
public:
  link_set();
  ~link_set();
  link_set(const link_set&) = delete;
  link_set& operator=(const link_set&) = delete;

  /// Makes the handle of `l`, reporting to `events`; false if libmosquitto
  /// cannot.
  bool create(link& l, link_events& events, const link_settings& s);
  /// Connects `l` (blocking until the TCP connection is up) and adds it to
  /// the set; the error text if it cannot.
  std::string connect(link& l, const link_settings& s);
  /// Waits up to `timeout` and serves the sockets that are ready, reading
  /// what arrived (with `drain`, all the socket holds) and writing what is
  /// due; the links served are appended to `served`.
  void serve(std::chrono::milliseconds timeout, bool drain, std::vector<link*>& served);
  /// Writes what `l` has queued now, instead of when the socket says so.
  void write_now(link& l);
  /// Asks epoll for writability exactly while `l` has something to write.
  void watch(link& l);
  /// The keepalive of every open link in `links` (once a second).
  void keepalive(const std::vector<link*>& links);
  /// Sends DISCONNECT and takes `l` out of the set.
  void disconnect(link& l);
  /// Takes `l` out of the set (the connection is dead); does nothing twice.
  void close(link& l);
  /// Frees the handle of `l`.
  void destroy(link& l);

private:
  void fail(link& l, const std::string& why);

  int ep_ = -1;
  std::vector<epoll_event> ready_;
};

void subscribe(link& l, const std::string& topic);
/// QoS 1; the error text, or empty.
std::string publish(link& l, const std::string& topic, const std::string& payload,
                    bool retained = false);
/// The broker's reason for a CONNACK code.
std::string connack_text(int rc);

} // namespace meetingd::loadgen
