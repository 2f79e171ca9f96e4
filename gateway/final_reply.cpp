// Replies as they leave the node (see final_reply.hpp).
#include "gateway/final_reply.hpp"

#include "gateway/codec.hpp"

namespace meetingd {

bool is_replayable(int code) {
  return code != 429 && code != 500 && code != 502 && code != 503;
}

final_reply make_final_reply(const reply_route& route, proto::reply reply) {
  reply.id = route.request_id;
  final_reply out;
  out.code = reply.code;
  out.reason = reply.reason;
  out.wire = codec::encode_reply(reply);
  out.user = route.user;
  out.meeting = route.meeting;
  out.replayable = is_replayable(reply.code) && !route.reads_only;
  return out;
}

} // namespace meetingd
