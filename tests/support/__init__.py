"""Helpers shared by the tests, imported by package path (``from tests.support.api_helpers
import running_api``): real engines and API servers, small exact histories, alert and
notification receivers, sockets, and the loghub corpus."""
