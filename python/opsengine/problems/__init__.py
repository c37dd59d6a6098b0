"""Problem management: problems behind incidents, known errors, recurrence proposals.

``engine.problems`` is a :class:`ProblemService`.
"""

from opsengine.problems.service import PROBLEM_STATES, ProblemError, ProblemService

__all__ = ["PROBLEM_STATES", "ProblemError", "ProblemService"]
