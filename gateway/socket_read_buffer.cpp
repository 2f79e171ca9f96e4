// The broker connection's read buffer (see socket_read_buffer.hpp).
#include "gateway/socket_read_buffer.hpp"

#include <dlfcn.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace meetingd::lmq {

namespace {

using recv_fn = ssize_t (*)(int, void*, size_t, int);
using poll_fn = int (*)(pollfd*, nfds_t, int);
using close_fn = int (*)(int);

template <class Fn>
Fn next_definition(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

recv_fn libc_recv() {
  static auto fn = next_definition<recv_fn>("recv");
  return fn;
}

poll_fn libc_poll() {
  static auto fn = next_definition<poll_fn>("poll");
  return fn;
}

close_fn libc_close() {
  static auto fn = next_definition<close_fn>("close");
  return fn;
}

constexpr std::size_t capacity = 64 * 1024;
/// One node has one broker connection; a few slots cover a reconnect whose
/// old socket is not closed yet.
constexpr int slot_count = 4;

struct slot {
  std::atomic<int> fd{-1};
  /// Bytes buffered, readable without the lock (poll looks at it).
  std::atomic<std::size_t> available{0};
  std::mutex lock;
  std::size_t begin = 0;
  char data[capacity];
};

slot slots[slot_count];
/// Registered sockets: while 0, every call goes straight to the C library.
std::atomic<int> registered{0};
std::atomic<std::uint64_t> served{0};
std::atomic<std::uint64_t> refills{0};

slot* slot_of(int fd) {
  if (fd < 0 || registered.load(std::memory_order_acquire) == 0)
    return nullptr;
  for (auto& s : slots)
    if (s.fd.load(std::memory_order_acquire) == fd)
      return &s;
  return nullptr;
}

bool take(int fd) {
  if (slot_of(fd))
    return true;
  for (auto& s : slots) {
    std::lock_guard<std::mutex> guard{s.lock};
    if (s.fd.load(std::memory_order_relaxed) != -1)
      continue;
    s.begin = 0;
    s.available.store(0, std::memory_order_relaxed);
    s.fd.store(fd, std::memory_order_release);
    registered.fetch_add(1, std::memory_order_acq_rel);
    return true;
  }
  return false;
}

void forget(slot& s, int fd) {
  std::lock_guard<std::mutex> guard{s.lock};
  if (s.fd.load(std::memory_order_relaxed) != fd)
    return;
  s.fd.store(-1, std::memory_order_release);
  s.available.store(0, std::memory_order_relaxed);
  registered.fetch_sub(1, std::memory_order_acq_rel);
}

ssize_t buffered_recv(slot& s, int fd, void* out, size_t n, int flags) {
  std::lock_guard<std::mutex> guard{s.lock};
  if (s.fd.load(std::memory_order_relaxed) != fd) // closed meanwhile
    return libc_recv()(fd, out, n, flags);
  auto available = s.available.load(std::memory_order_relaxed);
  if (available == 0) {
    // Paho passes no flags; any other call reads the kernel directly when
    // nothing is buffered, so the stream's order holds either way.
    if (flags != 0)
      return libc_recv()(fd, out, n, flags);
    auto got = libc_recv()(fd, s.data, capacity, 0);
    if (got <= 0)
      return got; // errno as the C library set it
    refills.fetch_add(1, std::memory_order_relaxed);
    s.begin = 0;
    available = static_cast<std::size_t>(got);
  }
  auto k = std::min(n, available);
  std::memcpy(out, s.data + s.begin, k);
  s.begin += k;
  s.available.store(available - k, std::memory_order_release);
  served.fetch_add(1, std::memory_order_relaxed);
  return static_cast<ssize_t>(k);
}

} // namespace

bool read_buffer_enabled() {
  static const bool enabled = [] {
    auto value = std::getenv("MEETINGD_MQTT_READ_BUFFER");
    return !value || std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

bool buffer_reads_of(int fd) {
  if (!read_buffer_enabled())
    return false;
  // Resolved before any socket is registered: dlsym must not run inside
  // the first interposed call on the receive thread's hot path.
  if (!libc_recv() || !libc_poll() || !libc_close())
    return false;
  return take(fd);
}

read_buffer_counts read_buffer_figures() {
  return {served.load(std::memory_order_relaxed), refills.load(std::memory_order_relaxed)};
}

} // namespace meetingd::lmq

using meetingd::lmq::libc_close;
using meetingd::lmq::libc_poll;
using meetingd::lmq::libc_recv;
using meetingd::lmq::slot_of;

extern "C" ssize_t recv(int fd, void* out, size_t n, int flags) {
  auto* s = slot_of(fd);
  if (!s || n == 0)
    return libc_recv()(fd, out, n, flags);
  return meetingd::lmq::buffered_recv(*s, fd, out, n, flags);
}

extern "C" int poll(pollfd* fds, nfds_t n, int timeout) {
  if (meetingd::lmq::registered.load(std::memory_order_acquire) == 0)
    return libc_poll()(fds, n, timeout);
  int ready = 0;
  for (nfds_t i = 0; i < n; ++i) {
    auto* s = (fds[i].events & POLLIN) ? slot_of(fds[i].fd) : nullptr;
    if (s && s->available.load(std::memory_order_acquire) > 0)
      ++ready;
  }
  if (ready == 0)
    return libc_poll()(fds, n, timeout);
  // Buffered bytes are readable now; the other descriptors are looked at
  // by the next poll, as a level-triggered poll allows.
  ready = 0;
  for (nfds_t i = 0; i < n; ++i) {
    auto* s = (fds[i].events & POLLIN) ? slot_of(fds[i].fd) : nullptr;
    bool readable = s && s->available.load(std::memory_order_acquire) > 0;
    fds[i].revents = readable ? POLLIN : 0;
    ready += readable ? 1 : 0;
  }
  return ready;
}

extern "C" int close(int fd) {
  if (auto* s = slot_of(fd))
    meetingd::lmq::forget(*s, fd);
  return libc_close()(fd);
}
