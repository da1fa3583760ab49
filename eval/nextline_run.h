// `mtpc eval --benchmark nextline`: every hole of a next-line benchmark
// (eval/nextline.h) completed by completion::Completer exactly as the
// language server completes (the same context window, fill-in-the-middle
// template, deadline and finalize), with one setting an editor leaves unset:
// the scope is the line (a cursor inside a word is completed too; --scope
// auto leaves it to the cursor, as in an editor). The first line of each
// completion is scored against the truth: exact match and edit similarity
// (eval/nextline.h), overall, per language and per position; beside them the
// wall time of each completion through the core (p50/p95/p99) and the
// answer rate within the deadline and within the server's default deadline.
//
// OUT (default runs/eval/nextline-<model directory name>): generation.json
// (the settings; a rerun into the same OUT must match them), samples.jsonl
// (resumable, as generation.h), results.jsonl (one line per hole: id, file,
// position, truth, completion, exact_match, edit_similarity, wall_ms),
// summary.json and report.md.
//
// Threads: blocks the calling thread. Never throws.
#pragma once

#include "eval/run.h"

namespace mtpc::eval {

// Exit codes as run_eval's.
EvalExit run_nextline_eval(const EvalOptions& options);

}  // namespace mtpc::eval
