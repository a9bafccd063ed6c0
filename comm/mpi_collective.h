// Open MPI collectives (target comm_mpi). MPI itself is initialised and
// finalised by launch/ (MpiSession), never by this library.
//
// Thread-safety: one thread per member, as for every Collective.
#pragma once

#include <memory>

#include "comm/collective.h"

namespace ecps::comm {

// A collective over the world ranks that pass the same `color` (MPI_Comm_split
// of MPI_COMM_WORLD; every world rank must call this collectively, with its
// own color). REQUIRES: MPI initialised.
StatusOr<std::unique_ptr<Collective>> NewMpiCollective(int color);

}  // namespace ecps::comm
