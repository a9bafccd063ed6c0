// Moved to common/blob.h (the framing every state blob of ecps uses). This
// forwarding header only keeps files that still include the old path
// building; it is deleted once none does.
#pragma once

#include "common/blob.h"

namespace ecps::embedding_internal {
using ::ecps::BlobReader;
using ::ecps::BlobWriter;
}  // namespace ecps::embedding_internal
