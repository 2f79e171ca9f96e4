// What the codec's files share (private to gateway/codec_*.cpp): JSON parsed
// within bounds and without exceptions, the id rules, enums by their wire
// names, and members_out/members_in, which write and read the members of an
// object from one description of its shape.
//
// A shape is a function template `shape(io, x)` that names each member once:
// `io("user", x.user)("role", x.r)`. With members_out it writes them, in that
// order (so the bytes are stable); with members_in it reads them back. The
// JSON type of a member follows from its C++ type: std::string a string,
// integers an integer, double a number, bool a boolean, an enum its wire
// name, a struct an object (its own shape), a vector an array (of strings,
// or of objects). A std::optional member is written only when set and may be
// absent; every other member is written always and so must be present when
// read, which is how a client tells one reply's data from another's.
#pragma once

#include "actors/core/protocol.hpp"
#include "actors/core/webhook_event.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace meetingd::codec::detail {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

/// Deepest nesting of arrays and objects any payload may have. The node's
/// messages need four levels; 16 leaves room for extensions.
constexpr int max_depth = 16;

/// False if `s` nests arrays/objects deeper than `limit`. Brackets inside
/// strings (with escapes) do not count. Invalid JSON passes when shallow;
/// the parser refuses it afterwards.
bool nesting_ok(std::string_view s, int limit);

/// Parses `s` without exceptions; a discarded value on any error, also for
/// nesting deeper than max_depth (checked before the parser sees the bytes).
template <class Json>
Json parse_bounded(std::string_view s) {
  if (!nesting_ok(s, max_depth))
    return Json(Json::value_t::discarded);
  return Json::parse(s.data(), s.data() + s.size(), nullptr, false);
}

/// Compact JSON; strings that are not valid UTF-8 (never produced by
/// decoding) get U+FFFD in place of the bad bytes rather than throwing.
std::string dump(const ojson& j);

/// The member `key` of object `o`, or nullptr when absent or null: a JSON
/// `null` counts as absent (clients in languages without optional fields
/// send null).
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

/// Request ids (`entity` false) and user, meeting and device ids (true).
bool valid_id(std::string_view x, bool entity);

// -- enums by wire name -----------------------------------------------------------

/// The parser of each enum the wire carries (actors/core/protocol.hpp).
template <class E>
constexpr std::optional<E> (*parser)(std::string_view) = nullptr;
template <> inline constexpr auto parser<role> = &parse_role;
template <> inline constexpr auto parser<invite_policy> = &parse_invite_policy;
template <> inline constexpr auto parser<participant_status> = &parse_participant_status;
template <> inline constexpr auto parser<invitation_status> = &parse_invitation_status;
template <> inline constexpr auto parser<meeting_status> = &parse_meeting_status;
template <> inline constexpr auto parser<sdk_event> = &parse_sdk_event;
template <> inline constexpr auto parser<webhook_type> = &parse_webhook_type;

template <class E>
std::optional<E> parse_as(std::string_view x) {
  return parser<E>(x);
}

/// Every wire name of `E` in order ("host, cohost, member"), for messages.
template <class E>
std::string names_of() {
  std::string out;
  for (int i = 0;; ++i) {
    auto x = static_cast<E>(i);
    const char* name = to_string(x);
    if (parse_as<E>(name) != x)
      return out;
    out += (i ? ", " : "") + std::string{name};
  }
}

// -- members, both ways -------------------------------------------------------------

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

/// Lists the wire carries as an object of user -> value, in the list's
/// order: a create's invitation outcomes, a call record's seconds.
template <class T>
struct is_keyed_list : std::false_type {};
template <>
struct is_keyed_list<std::vector<proto::invite_outcome>> : std::true_type {};
template <>
struct is_keyed_list<std::vector<std::pair<std::string, std::int64_t>>> : std::true_type {};

/// The key and the value of an entry of a keyed list.
template <class E>
auto& entry_key(E& e) {
  if constexpr (std::is_same_v<std::remove_const_t<E>, proto::invite_outcome>)
    return e.user;
  else
    return e.first;
}
template <class E>
auto& entry_value(E& e) {
  if constexpr (std::is_same_v<std::remove_const_t<E>, proto::invite_outcome>)
    return e.status;
  else
    return e.second;
}

/// Writes the members of one object.
class members_out {
public:
  explicit members_out(ojson& o) : o_(o) {
  }

  template <class T>
  members_out& operator()(const char* key, const T& x) {
    if constexpr (is_optional<T>::value) {
      if (x)
        (*this)(key, *x);
    } else {
      o_[key] = value(x);
    }
    return *this;
  }

  /// A string written only when it is not empty.
  members_out& unless_empty(const char* key, const std::string& x) {
    if (!x.empty())
      o_[key] = x;
    return *this;
  }

  /// An object member whose members `f` writes (flat C++, nested JSON).
  template <class F>
  members_out& object(const char* key, F f) {
    ojson sub = ojson::object();
    members_out out{sub};
    f(out);
    o_[key] = std::move(sub);
    return *this;
  }

  template <class T>
  static ojson value(const T& x) {
    if constexpr (std::is_same_v<T, std::string> || std::is_integral_v<T>) {
      return x;
    } else if constexpr (std::is_floating_point_v<T>) {
      return std::isfinite(x) ? x : 0.0; // JSON has no NaN or infinity
    } else if constexpr (std::is_enum_v<T>) {
      return to_string(x);
    } else if constexpr (is_keyed_list<T>::value) {
      ojson j = ojson::object(); // in the order given
      for (const auto& e : x)
        j[entry_key(e)] = value(entry_value(e));
      return j;
    } else if constexpr (is_vector<T>::value) {
      ojson j = ojson::array();
      for (const auto& e : x)
        j.push_back(value(e));
      return j;
    } else {
      ojson j = ojson::object();
      members_out out{j};
      shape(out, x);
      return j;
    }
  }

private:
  ojson& o_;
};

/// Reads the members of one object that the node wrote. A member of the
/// wrong type, or a missing one that is not std::optional, clears `ok`.
class members_in {
public:
  members_in(const ojson& o, bool& ok) : o_(o), ok_(ok) {
  }

  template <class T>
  members_in& operator()(const char* key, T& x) {
    if (auto v = member(o_, key)) {
      if constexpr (is_optional<T>::value) {
        typename T::value_type tmp{};
        read(*v, tmp);
        x = std::move(tmp);
      } else {
        read(*v, x);
      }
    } else if constexpr (!is_optional<T>::value) {
      ok_ = false;
    }
    return *this;
  }

  /// True if the object has no members at all.
  bool empty() const {
    return o_.empty();
  }

  members_in& unless_empty(const char* key, std::string& x) {
    if (auto v = member(o_, key))
      read(*v, x);
    return *this;
  }

  template <class F>
  members_in& object(const char* key, F f) {
    auto v = member(o_, key);
    if (!v || !v->is_object()) {
      ok_ = false;
      return *this;
    }
    members_in in{*v, ok_};
    f(in);
    return *this;
  }

  template <class T>
  void read(const ojson& v, T& x) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (v.is_string())
        x = v.get<std::string>();
      else
        ok_ = false;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (v.is_boolean())
        x = v.get<bool>();
      else
        ok_ = false;
    } else if constexpr (std::is_integral_v<T>) {
      auto i = as_int64(v);
      if (i && *i >= std::numeric_limits<T>::min() && *i <= std::numeric_limits<T>::max())
        x = static_cast<T>(*i);
      else
        ok_ = false;
    } else if constexpr (std::is_floating_point_v<T>) {
      if (v.is_number())
        x = v.get<double>();
      else
        ok_ = false;
    } else if constexpr (std::is_enum_v<T>) {
      std::optional<T> e;
      if (v.is_string())
        e = parse_as<T>(v.get_ref<const std::string&>());
      if (e)
        x = *e;
      else
        ok_ = false;
    } else if constexpr (is_keyed_list<T>::value) {
      if (!v.is_object())
        return void(ok_ = false);
      for (auto it = v.begin(); it != v.end(); ++it) {
        typename T::value_type e{};
        entry_key(e) = it.key();
        read(*it, entry_value(e));
        x.push_back(std::move(e));
      }
    } else if constexpr (is_vector<T>::value) {
      if (!v.is_array())
        return void(ok_ = false);
      for (const auto& e : v) {
        typename T::value_type item{};
        read(e, item);
        x.push_back(std::move(item));
      }
    } else {
      if (!v.is_object())
        return void(ok_ = false);
      members_in in{v, ok_};
      shape(in, x);
    }
  }

private:
  const ojson& o_;
  bool& ok_;
};

/// Reads an object the node wrote: `read(in, object)` fills a value from it
/// with `in`. Nullopt if `j` is no JSON object, or a member `read` asked for
/// is missing or of the wrong type.
template <class T, class Read>
std::optional<T> read_parsed(const ojson& j, Read read) {
  if (!j.is_object())
    return std::nullopt;
  bool ok = true;
  members_in in{j, ok};
  std::optional<T> x = read(in, j);
  if (!ok)
    return std::nullopt;
  return x;
}

template <class T, class Read>
std::optional<T> read_object(std::string_view payload, Read read) {
  return read_parsed<T>(parse_bounded<ojson>(payload), read);
}

/// The readers of replies (codec_replies.cpp; with `sent`, their data as
/// the answer to it) and of events (codec_events.cpp), for read_parsed.
std::optional<proto::reply> read_reply(members_in& in, const ojson& j,
                                       std::optional<proto::command_kind> sent);
std::optional<std::pair<proto::event, std::uint64_t>> read_event(members_in& in, const ojson& j);

// -- the shapes both replies and events carry ---------------------------------------

/// `T` as a shape sees it: const when writing, mutable when reading.
template <class Io, class T>
using of = std::conditional_t<std::is_same_v<Io, members_out>, const T, T>;

/// Join credentials, in the order of the protocol's credentials object.
template <class Io> void shape(Io& io, of<Io, proto::credentials>& x) {
  io("appid", x.appid)("channel", x.channel)("meeting", x.meeting)("userid", x.userid);
  io("gslb", x.gslb)("session", x.session)("token", x.token)("nonce", x.nonce);
  io("timestamp", x.timestamp).object("turn", [&x](auto& turn) {
    turn("username", x.turn_username)("password", x.turn_password);
  });
}

template <class Io> void shape(Io& io, of<Io, proto::participant_view>& x) {
  io("user", x.user)("rtc_userid", x.rtc_userid)("role", x.r)("state", x.status);
  io("online", x.online)("audio_muted", x.audio_muted)("video_muted", x.video_muted);
  io("joined_at", x.joined_at);
}

} // namespace meetingd::codec::detail
