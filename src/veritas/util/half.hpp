#pragma once
// IEEE half precision (fp16) to and from fp32, exactly as the formats define them: every
// half is a float; a float rounds to the nearest half (ties to even), overflowing to
// infinity, with subnormals and NaN kept.
#include <cstdint>

namespace veritas {

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even

}  // namespace veritas
