"""The units a run is made of, each a layer over the shared journal (`journal.RunCore`): interrupts, tool calls,
model calls, arbitration, hand-offs and agent steps. `runtime.Run` is the last layer."""
