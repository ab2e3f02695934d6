#include "model/model_info.h"

namespace sdpp {

const char* family_name(Family f) {
    switch (f) {
        case Family::SD1: return "sd1";
        case Family::SD2: return "sd2";
        case Family::SDXL: return "sdxl";
        case Family::SDXLRefiner: return "sdxl-refiner";
        case Family::Unknown: return "unknown";
    }
    return "unknown";
}

const char* prediction_name(Prediction p) { return p == Prediction::V ? "v" : "eps"; }

}  // namespace sdpp
