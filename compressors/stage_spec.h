// One stage of a method's stage plan and the flags the trainer honours
// (docs/methods.md §1.9). Every flag here is read by worker/trainer.cc or
// embedding/embedding_layer.cc; a flag a future method needs is added with the
// trainer code that honours it, never before.
#pragma once

#include <string>

namespace ecps {

// One stage of a multi-stage method (docs/methods.md §1.9).
struct StageSpec {
  std::string name;                    // "train", "warmup", "search", "retrain", "prune", ...
  bool reset_optimizer_state = false;  // fresh Adam state at the start of the stage
  bool freeze_dense = false;           // dense MLP not updated (AutoSrh search)
  bool post_training = false;          // no training steps: a transform (Post4Bits)
  // Rows re-initialised from the run's seed, i.e. the very same initial values
  // as stage 0 (PEP's lottery-ticket rewinding, §2.24).
  bool reinit_rows = false;
  // The stage continues the previous stage's position in the training data
  // (epoch and step) instead of starting a new pass, so train.epochs bounds
  // the continuing stages together (CCE's clusterings within one epoch). A
  // continuing stage that finds the data spent is not run, nor any after it.
  bool continue_data = false;
  // No training steps: the method proposes candidates (NextCandidate) and
  // the trainer scores each on the validation split, never test
  // (ReportScore; OptEmbed's evolutionary search, docs/methods.md §2.22),
  // then evaluates and checkpoints the method's final choice.
  bool evaluation_search = false;
};

}  // namespace ecps
