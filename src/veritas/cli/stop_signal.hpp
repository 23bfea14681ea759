#pragma once
// Clean stops for long jobs (train, selfplay): the first SIGINT or SIGTERM asks the job to
// finish its current step or round and checkpoint; a second one kills as usual.
namespace veritas::cli {

void install_stop_handlers();
bool stop_requested();

}  // namespace veritas::cli
