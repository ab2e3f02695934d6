// Embeds the installed libsdpp through its public headers only: errors are caught as sdpp::Error
// (the type must match across the library boundary), and every exported function must link.
#include <sdpp/sdpp.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what) {
    std::fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

// Taking each address makes the linker resolve it against libsdpp's exports.
uintptr_t reference_every_function() {
    const uintptr_t fns[] = {
        reinterpret_cast<uintptr_t>(&sdpp::random_seed),
        reinterpret_cast<uintptr_t>(&sdpp::validate_request),
        reinterpret_cast<uintptr_t>(&sdpp::parse_sampler_name),
        reinterpret_cast<uintptr_t>(&sdpp::parse_scheduler_name),
        reinterpret_cast<uintptr_t>(&sdpp::sampler_display_name),
        reinterpret_cast<uintptr_t>(&sdpp::scheduler_display_name),
        reinterpret_cast<uintptr_t>(&sdpp::default_scheduler),
        reinterpret_cast<uintptr_t>(&sdpp::known_samplers),
        reinterpret_cast<uintptr_t>(&sdpp::known_schedulers),
        reinterpret_cast<uintptr_t>(&sdpp::format_parameters),
        reinterpret_cast<uintptr_t>(&sdpp::request_from_parameters),
        reinterpret_cast<uintptr_t>(&sdpp::save_png),
        reinterpret_cast<uintptr_t>(&sdpp::load_image),
        reinterpret_cast<uintptr_t>(&sdpp::save_latent),
        reinterpret_cast<uintptr_t>(&sdpp::model_short_hash),
        reinterpret_cast<uintptr_t>(&sdpp::resize_mode_name),
        reinterpret_cast<uintptr_t>(&sdpp::parse_resize_mode),
        reinterpret_cast<uintptr_t>(&sdpp::Image::blank),
        reinterpret_cast<uintptr_t>(&sdpp::set_verbosity),
    };
    uintptr_t sum = 0;
    for (uintptr_t f : fns) sum ^= f;
    return sum;
}

}  // namespace

int main() {
    if (std::strcmp(sdpp::version(), SDPP_VERSION_STRING) != 0) return fail("version() differs from the headers");
    if (reference_every_function() == 0) return fail("no functions");

    std::vector<std::string> logged;
    sdpp::set_log_callback([&](sdpp::LogLevel, const std::string& m) { logged.push_back(m); });

    // A missing model: the library throws, the program catches the type it sees in error.hpp.
    try {
        sdpp::ModelOptions options;
        options.model = "/nonexistent/model.safetensors";
        sdpp::Engine engine(options);
        return fail("loading a missing model did not throw");
    } catch (const sdpp::Error& e) {
        if (std::string(e.what()).find("/nonexistent/model.safetensors") == std::string::npos)
            return fail("the error does not name the file");
    }

    try {
        sdpp::request_from_json(R"({"steps": "many"})");
        return fail("a bad JSON type did not throw");
    } catch (const sdpp::Error&) {
    }
    sdpp::GenerateRequest req = sdpp::request_from_json(R"({"prompt": "a lighthouse", "seed": 7, "n_iter": 2})");
    if (req.prompt != "a lighthouse" || req.seed != 7 || req.batch_count != 2) return fail("JSON fields");

    sdpp::GeneratedImage image;
    image.image = sdpp::Image::blank(8, 8, 3, 200);
    image.parameters = "a lighthouse\nSteps: 1";
    std::vector<uint8_t> png = sdpp::encode_png(image);
    std::string parameters;
    sdpp::Image back = sdpp::decode_image(png.data(), png.size(), &parameters);
    if (back.pixels != image.image.pixels || parameters != image.parameters) return fail("PNG round trip");

    sdpp::set_log_callback({});
    std::printf("consumer: sdpp %s embedded, sdpp::Error caught\n", sdpp::version());
    return 0;
}
