// loadgen's epoll-driven libmosquitto connections (see io.hpp).
#include "tools/loadgen/io.hpp"

#include "tools/client/mqtt_session.hpp"

#include <mosquitto.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <stdexcept>

namespace meetingd::loadgen {

namespace {

link& of(void* userdata) {
  return *static_cast<link*>(userdata);
}

/// A socket that signalled input is read at most this often in one round
/// when draining, so one busy connection cannot starve the loop.
constexpr int max_drain_reads = 256;

} // namespace

mqtt_library::mqtt_library() {
  mosquitto_lib_init();
}

mqtt_library::~mqtt_library() {
  mosquitto_lib_cleanup();
}

link_set::link_set() : ready_(512) {
  ep_ = epoll_create1(0);
  if (ep_ < 0)
    throw std::runtime_error("epoll_create1 failed");
}

link_set::~link_set() {
  if (ep_ >= 0)
    ::close(ep_);
}

bool link_set::create(link& l, link_events& events, const link_settings& s) {
  l.events = &events;
  l.m = mosquitto_new(s.client_id.c_str(), true, &l);
  if (!l.m)
    return false;
  mosquitto_max_inflight_messages_set(l.m, 0);
  // Without it Nagle's algorithm holds small packets back for the peer's
  // delayed ACK (40 ms on Linux): a benchmark of latency must not.
  mosquitto_int_option(l.m, MOSQ_OPT_TCP_NODELAY, 1);
  if (!s.username.empty())
    mosquitto_username_pw_set(l.m, s.username.c_str(), s.password.c_str());
  mosquitto_connect_callback_set(l.m, [](mosquitto*, void* ud, int rc) {
    of(ud).events->connected(of(ud), rc);
  });
  mosquitto_subscribe_callback_set(l.m, [](mosquitto*, void* ud, int, int n, const int* granted) {
    of(ud).events->subscribed(of(ud), n >= 1 && granted[0] <= 2);
  });
  mosquitto_message_callback_set(l.m, [](mosquitto*, void* ud, const mosquitto_message* msg) {
    of(ud).events->message(of(ud), msg->topic,
                           {static_cast<const char*>(msg->payload),
                            static_cast<std::size_t>(msg->payloadlen)});
  });
  mosquitto_disconnect_callback_set(l.m, [](mosquitto*, void* ud, int rc) {
    of(ud).events->disconnected(of(ud), rc);
  });
  if (!s.will_topic.empty())
    mosquitto_will_set(l.m, s.will_topic.c_str(), static_cast<int>(s.will_payload.size()),
                       s.will_payload.data(), 1, true);
  return true;
}

std::string link_set::connect(link& l, const link_settings& s) {
  auto [host, port] = client::host_port(s.broker);
  int rc = mosquitto_connect(l.m, host.c_str(), port, s.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS)
    return mosquitto_strerror(rc);
  l.fd = mosquitto_socket(l.m);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &l;
  epoll_ctl(ep_, EPOLL_CTL_ADD, l.fd, &ev);
  l.out_armed = false;
  watch(l);
  return {};
}

void link_set::serve(std::chrono::milliseconds timeout, bool drain, std::vector<link*>& served) {
  int n = epoll_wait(ep_, ready_.data(), static_cast<int>(ready_.size()),
                     static_cast<int>(timeout.count()));
  for (int i = 0; i < n; ++i) {
    auto& l = *static_cast<link*>(ready_[i].data.ptr);
    if (!l.open())
      continue;
    if (ready_[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      int rc = mosquitto_loop_read(l.m, 1);
      for (int k = 1; drain && rc == MOSQ_ERR_SUCCESS && k < max_drain_reads; ++k) {
        int avail = 0;
        if (ioctl(l.fd, FIONREAD, &avail) != 0 || avail <= 0)
          break;
        rc = mosquitto_loop_read(l.m, 1);
      }
      if (rc != MOSQ_ERR_SUCCESS) {
        fail(l, mosquitto_strerror(rc));
        continue;
      }
    }
    if (l.open() && (ready_[i].events & EPOLLOUT)) {
      int rc = mosquitto_loop_write(l.m, 1);
      if (rc != MOSQ_ERR_SUCCESS) {
        fail(l, mosquitto_strerror(rc));
        continue;
      }
    }
    served.push_back(&l);
  }
}

void link_set::write_now(link& l) {
  if (l.open() && mosquitto_want_write(l.m))
    mosquitto_loop_write(l.m, 1);
}

void link_set::watch(link& l) {
  if (!l.open())
    return;
  bool want = mosquitto_want_write(l.m);
  if (want == l.out_armed)
    return;
  epoll_event ev{};
  ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.ptr = &l;
  epoll_ctl(ep_, EPOLL_CTL_MOD, l.fd, &ev);
  l.out_armed = want;
}

void link_set::keepalive(const std::vector<link*>& links) {
  for (auto l : links) {
    if (!l->open())
      continue;
    if (mosquitto_loop_misc(l->m) != MOSQ_ERR_SUCCESS)
      fail(*l, "keepalive");
    else
      watch(*l);
  }
}

void link_set::disconnect(link& l) {
  if (!l.open())
    return;
  mosquitto_disconnect(l.m);
  mosquitto_loop_write(l.m, 1);
  close(l);
}

void link_set::close(link& l) {
  if (l.fd < 0)
    return;
  epoll_ctl(ep_, EPOLL_CTL_DEL, l.fd, nullptr);
  l.fd = -1;
}

void link_set::destroy(link& l) {
  close(l);
  if (l.m)
    mosquitto_destroy(l.m);
  l.m = nullptr;
}

void link_set::fail(link& l, const std::string& why) {
  close(l);
  l.events->lost(l, why);
}

void subscribe(link& l, const std::string& topic) {
  mosquitto_subscribe(l.m, nullptr, topic.c_str(), 1);
}

std::string publish(link& l, const std::string& topic, const std::string& payload,
                    bool retained) {
  int rc = mosquitto_publish(l.m, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, retained);
  return rc == MOSQ_ERR_SUCCESS ? std::string{} : mosquitto_strerror(rc);
}

std::string connack_text(int rc) {
  return mosquitto_connack_string(rc);
}

} // namespace meetingd::loadgen
