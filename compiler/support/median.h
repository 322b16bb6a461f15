// The median of a sample: the one definition the timing protocol, stored records and
// measurement results share. Header-only and dependency-free (like status.h), so that
// db/ uses it without linking the compiler.
#pragma once

#include <algorithm>
#include <vector>

namespace priortune {

// The middle value (the mean of the two middle values for an even count); 0 for none.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace priortune
