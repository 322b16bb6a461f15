// Status and StatusOr<T>: the one error currency inside priortune. Codes mirror gRPC's so
// that the server converts them at its edge without a table of special cases.
#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace priortune {

enum class StatusCode {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

const char* StatusCodeName(StatusCode code);

// A cheap value type: an ok status carries no message. Thread-compatible. [[nodiscard]]:
// a dropped status is a compile warning (an error with -Werror=unused-result).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: split factor 0 for axis i of stage C".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

[[nodiscard]] inline Status OkStatus() { return Status(); }
inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }

// Either a value or a non-ok Status. Accessing the value of an error aborts with the
// message: that is a broken invariant of the caller, not an input error.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) {
      std::fprintf(stderr, "StatusOr constructed from an ok Status without a value\n");
      std::abort();
    }
  }
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    Check();
    return *value_;
  }
  const T& value() const& {
    Check();
    return *value_;
  }
  T&& value() && {
    Check();
    return std::move(*value_);
  }
  T* operator->() {
    Check();
    return &*value_;
  }
  const T* operator->() const {
    Check();
    return &*value_;
  }
  T& operator*() & {
    Check();
    return *value_;
  }
  const T& operator*() const& {
    Check();
    return *value_;
  }

 private:
  void Check() const {
    if (!status_.ok()) {
      std::fprintf(stderr, "StatusOr::value() on error: %s\n", status_.ToString().c_str());
      std::abort();
    }
  }
  Status status_;
  std::optional<T> value_;
};

// Aborts with a message: for broken invariants only, never for bad input.
[[noreturn]] void Fatal(const std::string& message);

}  // namespace priortune

#define PT_CONCAT_INNER(a, b) a##b
#define PT_CONCAT(a, b) PT_CONCAT_INNER(a, b)

#define PT_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::priortune::Status pt_status_ = (expr); \
    if (!pt_status_.ok()) return pt_status_; \
  } while (0)

#define PT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define PT_ASSIGN_OR_RETURN(lhs, expr) PT_ASSIGN_OR_RETURN_IMPL(PT_CONCAT(pt_statusor_, __LINE__), lhs, expr)

#define PT_CHECK(cond, msg)                                                            \
  do {                                                                                 \
    if (!(cond)) ::priortune::Fatal(std::string("check failed: " #cond ": ") + (msg)); \
  } while (0)
