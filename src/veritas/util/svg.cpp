#include "veritas/util/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace veritas {

static std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

static std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

std::string Chart::to_svg(int W, int H) const {
  const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"};
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto ty = [&](double y) { return logy ? std::log10(std::max(y, 1e-12)) : y; };
  for (auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]); x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, ty(s.y[i])); y1 = std::max(y1, ty(s.y[i]));
    }
  if (!std::isnan(xmin)) x0 = xmin;
  if (!std::isnan(xmax)) x1 = xmax;
  if (!std::isnan(ymin)) y0 = ty(ymin);
  if (!std::isnan(ymax)) y1 = ty(ymax);
  if (!std::isfinite(x0)) { x0 = 0; x1 = 1; }
  if (!std::isfinite(y0)) { y0 = 0; y1 = 1; }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double L = 70, R = 20, T = 40, B = 50;
  double pw = W - L - R, ph = H - T - B;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return T + ph - (ty(y) - y0) / (y1 - y0) * ph; };
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(W) + "\" height=\"" +
                  std::to_string(H) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + num(W / 2.0) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + esc(title) + "</text>\n";
  o += "<rect x=\"" + num(L) + "\" y=\"" + num(T) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (int i = 0; i <= 5; ++i) {  // ticks
    double fx = x0 + (x1 - x0) * i / 5, fy = y0 + (y1 - y0) * i / 5;
    double X = L + pw * i / 5, Y = T + ph - ph * i / 5;
    o += "<line x1=\"" + num(X) + "\" y1=\"" + num(T) + "\" x2=\"" + num(X) + "\" y2=\"" + num(T + ph) +
         "\" stroke=\"#eee\"/>\n";
    o += "<line x1=\"" + num(L) + "\" y1=\"" + num(Y) + "\" x2=\"" + num(L + pw) + "\" y2=\"" + num(Y) +
         "\" stroke=\"#eee\"/>\n";
    o += "<text x=\"" + num(X) + "\" y=\"" + num(T + ph + 16) + "\" text-anchor=\"middle\">" + num(fx) + "</text>\n";
    o += "<text x=\"" + num(L - 6) + "\" y=\"" + num(Y + 4) + "\" text-anchor=\"end\">" +
         num(logy ? std::pow(10, fy) : fy) + "</text>\n";
  }
  o += "<text x=\"" + num(L + pw / 2) + "\" y=\"" + num(H - 10.0) + "\" text-anchor=\"middle\">" + esc(xlabel) + "</text>\n";
  o += "<text transform=\"translate(16," + num(T + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" + esc(ylabel) +
       "</text>\n";
  if (diagonal)
    o += "<line x1=\"" + num(px(x0)) + "\" y1=\"" + num(py(x0)) + "\" x2=\"" + num(px(x1)) + "\" y2=\"" +
         num(py(x1)) + "\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    std::string color = s.color.empty() ? palette[k % 7] : s.color;
    if (s.points) {
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
          o += "<circle cx=\"" + num(px(s.x[i])) + "\" cy=\"" + num(py(s.y[i])) + "\" r=\"3.5\" fill=\"" + color + "\"/>\n";
    } else {
      std::string pts;
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) pts += num(px(s.x[i])) + "," + num(py(s.y[i])) + " ";
      o += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.8\" points=\"" + pts + "\"/>\n";
    }
    o += "<rect x=\"" + num(L + 10) + "\" y=\"" + num(T + 8 + 16 * k) + "\" width=\"10\" height=\"10\" fill=\"" + color + "\"/>";
    o += "<text x=\"" + num(L + 24) + "\" y=\"" + num(T + 17 + 16 * k) + "\">" + esc(s.name) + "</text>\n";
  }
  o += "</svg>\n";
  return o;
}

}  // namespace veritas
