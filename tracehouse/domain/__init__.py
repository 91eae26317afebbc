"""The domain: what a step is, and the rules that need a whole trace, defined once.

The normaliser, the trace finaliser, the detectors, the scorers and the dashboard all call these modules; none keeps
its own copy of a rule. Pure: no store, no HTTP, no clock.

- `model`: `Step` and the records it carries.
- `tree`: one trace's parent/child structure, cycle-safe and bounded.
- `attribution`: the agent of a step, what counts as a model call, who owns the usage, each hand-off once.
- `outcome`: a failed step.
- `rates`: error rate, retry rate and amplification: what is counted, over which steps, as Python and SQL.
- `messages`: a step's conversation, one shape from every convention's content.
"""
