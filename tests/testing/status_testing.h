// GoogleTest assertions on a Status, naming the expression and the error
// (absl's status matchers are not in the Debian package).
#pragma once

#include <gtest/gtest.h>

#include "common/status.h"

#define ECPS_EXPECT_OK(expr)                                                   \
  do {                                                                         \
    const ::ecps::Status ecps_test_status_ = (expr);                           \
    EXPECT_TRUE(ecps_test_status_.ok()) << #expr << ": " << ecps_test_status_; \
  } while (0)

#define ECPS_ASSERT_OK(expr)                                                   \
  do {                                                                         \
    const ::ecps::Status ecps_test_status_ = (expr);                           \
    ASSERT_TRUE(ecps_test_status_.ok()) << #expr << ": " << ecps_test_status_; \
  } while (0)
