#pragma once
// Dimensional analysis: quantities are a double in SI base units times a dimension
// vector over the 7 SI base dimensions. Units (with SI prefixes), derived and common
// non-SI units and constants live in one table (units.cpp) with the source of each
// definition. One parser reads unit spellings in answers ("m/s", "m s^-1", "meters per
// second", "米/秒") and quantity formulas ("0.5 * 2 kg * (3 m/s)^2").
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "veritas/util/error.hpp"

namespace veritas::units {

// Exponents of length, mass, time, electric current, temperature, amount, luminous intensity.
using Dim = std::array<int8_t, 7>;
std::string dim_string(const Dim& d);  // "L T^-1", "1" for dimensionless

struct Quantity {
  double value = 0;  // in SI base units
  Dim dim{};
};

// Raised when a formula adds or compares quantities of different dimensions.
struct DimensionMismatch : Error {
  using Error::Error;
};

struct UnitInfo {
  std::string name;      // canonical spelling
  double factor;         // SI value of one unit
  Dim dim;
  double offset = 0;     // absolute temperatures: SI = factor * x + offset
  std::string source;    // where the definition comes from
};

// Parses a unit expression ("km/h", "kg m^2 s^-2", "meters per second squared", "米每秒",
// "°C"). The empty string is the dimensionless unit 1. Throws Error on unknown units.
struct ParsedUnit {
  double factor = 1;
  Dim dim{};
  double offset = 0;  // non-zero only for a lone absolute temperature unit (°C, °F)
  bool absolute_temperature = false;
};
ParsedUnit parse_unit(std::string_view text);

// Evaluates a quantity formula: numbers, units, + - * / ^, parentheses, juxtaposition
// ("3 kg" = 3 * kg, binding tighter than '/', as GNU units does). Throws
// DimensionMismatch for "3 m + 2 s", Error on syntax errors or unknown units.
Quantity eval(std::string_view formula);

// Reads "<number> <unit>" as written in an answer (tolerant number syntax, see
// exact::read_number). Throws Error when the number or the unit cannot be read.
Quantity parse_quantity(std::string_view text);

// Converts an SI value to the given unit (for rendering reference answers).
double from_si(double si, std::string_view unit);

const std::vector<UnitInfo>& unit_table();

bool same_dim(const Dim& a, const Dim& b);

}  // namespace veritas::units
