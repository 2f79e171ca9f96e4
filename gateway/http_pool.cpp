// libcurl multi on one owned thread: see http_pool.hpp.
//
// Threads: `submit` (any thread) only appends to `incoming` under a mutex and
// calls curl_multi_wakeup, the one multi function documented as callable from
// any thread. Everything else on curl handles happens on the worker thread.
// The worker shares `impl` through a shared_ptr, so it can outlive the
// http_pool object when the pool is destroyed from inside one of its own
// callbacks (the thread cannot join itself).
#include "gateway/http_pool.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace meetingd {

namespace {

/// curl_global_init once per process, before the first handle. Never undone:
/// other parts of the process (or a second pool) may still use curl.
void init_curl_once() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

/// Owns the multi handle and its connection cache.
struct multi_handle {
  CURLM* ptr = nullptr;
  multi_handle() : ptr(curl_multi_init()) {}
  ~multi_handle() {
    if (ptr)
      curl_multi_cleanup(ptr);
  }
  multi_handle(const multi_handle&) = delete;
  multi_handle& operator=(const multi_handle&) = delete;
};

/// One transfer: the easy handle, its header list and the response, freed
/// (and detached from the multi handle) in the destructor.
struct transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  CURLM* multi = nullptr; // set once added
  http_request req;
  http_pool::callback done;
  std::string body;
  std::size_t max_body = 0;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};

  transfer() : easy(curl_easy_init()) {}
  ~transfer() {
    if (multi && easy)
      curl_multi_remove_handle(multi, easy);
    if (easy)
      curl_easy_cleanup(easy);
    if (headers)
      curl_slist_free_all(headers);
  }
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;
};

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto n = size * nmemb;
  if (t->body.size() + n > t->max_body) {
    t->too_large = true;
    return 0; // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

void invoke(http_pool::callback& done, http_result res) {
  if (!done)
    return;
  try {
    done(std::move(res));
  } catch (...) {
    // A callback's failure is its own; the pool keeps serving the others.
  }
}

http_result transport_error(std::string what) {
  http_result res;
  res.transport_error = std::move(what);
  return res;
}

} // namespace

struct http_pool::impl {
  struct queued {
    http_request req;
    callback done;
  };

  options opts;
  multi_handle multi; // declared before `active`: destroyed after it
  std::mutex mtx;
  std::vector<queued> incoming; // guarded by mtx
  bool stopping = false;        // guarded by mtx
  // Worker thread only.
  std::unordered_map<CURL*, std::unique_ptr<transfer>> active;

  explicit impl(options o) : opts(o) {
    if (multi.ptr) {
      curl_multi_setopt(multi.ptr, CURLMOPT_MAX_HOST_CONNECTIONS, opts.max_host_connections);
      curl_multi_setopt(multi.ptr, CURLMOPT_MAXCONNECTS, opts.max_cached_connections);
    }
  }

  void wake() {
    if (multi.ptr)
      curl_multi_wakeup(multi.ptr);
  }

  void start(queued q) {
    auto t = std::make_unique<transfer>();
    t->req = std::move(q.req);
    t->done = std::move(q.done);
    t->max_body = opts.max_body_bytes;
    if (!multi.ptr || !t->easy) {
      invoke(t->done, transport_error("curl: cannot create a handle"));
      return;
    }
    auto* e = t->easy;
    auto& r = t->req;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    // curl's defaults, said out loud: https answers must come from the host
    // in the URL with a certificate the system trusts (channel keys ride in
    // them).
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    for (const auto& h : r.headers) {
      auto* grown = curl_slist_append(t->headers, h.c_str());
      if (!grown) {
        invoke(t->done, transport_error("curl: out of memory for headers"));
        return;
      }
      t->headers = grown;
    }
    if (t->headers)
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (r.method.empty() || r.method == "GET") {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (r.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(r.body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data()); // r outlives e
      if (r.method != "POST")
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    if (auto mc = curl_multi_add_handle(multi.ptr, e); mc != CURLM_OK) {
      invoke(t->done, transport_error(std::string{"curl: "} + curl_multi_strerror(mc)));
      return;
    }
    t->multi = multi.ptr;
    active.emplace(e, std::move(t));
  }

  void finish_done_transfers() {
    int left = 0;
    while (auto* msg = curl_multi_info_read(multi.ptr, &left)) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      auto rc = msg->data.result;
      auto it = active.find(msg->easy_handle);
      if (it == active.end())
        continue;
      auto t = std::move(it->second);
      active.erase(it);
      http_result res;
      if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        res.status = static_cast<int>(status);
        res.body = std::move(t->body);
      } else if (t->too_large) {
        res.transport_error = "response body over " + std::to_string(t->max_body) + " bytes";
      } else {
        res.transport_error = t->error[0] != '\0' ? t->error : curl_easy_strerror(rc);
      }
      auto done = std::move(t->done);
      t.reset(); // handle back to the cache before the callback runs
      invoke(done, std::move(res));
    }
  }

  void run() {
    for (;;) {
      std::vector<queued> batch;
      bool stop = false;
      {
        std::lock_guard<std::mutex> guard{mtx};
        batch.swap(incoming);
        stop = stopping;
      }
      if (stop) {
        for (auto& q : batch)
          invoke(q.done, transport_error("http pool stopped"));
        break;
      }
      for (auto& q : batch)
        start(std::move(q));
      int running = 0;
      curl_multi_perform(multi.ptr, &running);
      finish_done_transfers();
      // Sleeps until a socket is ready, a curl timer is due or wake() is
      // called; the 1 s cap is only a safety net.
      curl_multi_poll(multi.ptr, nullptr, 0, 1000, nullptr);
    }
    // Fail whatever is still in flight, then free every handle.
    auto left = std::move(active);
    active.clear();
    for (auto& [easy, t] : left) {
      auto done = std::move(t->done);
      t.reset();
      invoke(done, transport_error("http pool stopped"));
    }
  }
};

http_pool::http_pool() : http_pool(options{}) {}

http_pool::http_pool(options opts) {
  init_curl_once();
  impl_ = std::make_shared<impl>(opts);
  if (!impl_->multi.ptr) {
    // No thread: every submit fails at once.
    impl_->stopping = true;
    return;
  }
  worker_ = std::thread([keep = impl_] { keep->run(); });
}

http_pool::~http_pool() {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->stopping = true;
  }
  impl_->wake();
  if (!worker_.joinable())
    return;
  if (worker_.get_id() == std::this_thread::get_id())
    worker_.detach(); // called from a callback: run() finishes after it returns
  else
    worker_.join();
}

void http_pool::submit(http_request req, callback done) {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (!impl_->stopping) {
      impl_->incoming.push_back(impl::queued{std::move(req), std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    invoke(done, transport_error("http pool stopped"));
    return;
  }
  impl_->wake();
}

} // namespace meetingd
