// libFuzzer target: the server's request parsing (apps/server/a1111_request.cpp, which hands the
// known fields to request_from_json) on arbitrary bodies. The first byte picks the endpoint
// (txt2img, img2img, OpenAI images); the rest is the body. A bad body must end in sdpp::Error (the
// server's 422), never another exception, a crash, a hang or a huge allocation.
#include "server/a1111_request.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    sdpp::server::RequestLimits limits;
    limits.max_side = 512;
    try {
        switch (data[0] % 3) {
        case 0: sdpp::server::parse_a1111_body(body, sdpp::server::Endpoint::Txt2Img, limits); break;
        case 1: sdpp::server::parse_a1111_body(body, sdpp::server::Endpoint::Img2Img, limits); break;
        default: sdpp::server::parse_openai_body(body, limits); break;
        }
    } catch (const sdpp::Error&) {
    }
    return 0;
}
