#pragma once
// Minimal SVG charts (line and scatter series on linear or log axes), self-contained
// files that any browser shows. Used for loss curves, reliability diagrams, etc.
#include <limits>
#include <string>
#include <vector>

namespace veritas {

struct Series {
  std::string name;
  std::vector<double> x, y;
  bool points = false;  // draw markers instead of a line
  std::string color;    // empty = palette
};

struct Chart {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  bool logy = false;
  static constexpr double kAuto = std::numeric_limits<double>::quiet_NaN();
  double xmin = kAuto, xmax = kAuto, ymin = kAuto, ymax = kAuto;  // NaN = from data
  bool diagonal = false;  // draw y = x (reliability diagrams)
  std::string to_svg(int width = 640, int height = 400) const;
};

}  // namespace veritas
