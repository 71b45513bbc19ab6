"""Errors of the envelope itself; the services' own errors pass through with their codes."""

from __future__ import annotations

from medhtap.platform.errors import Conflict, Forbidden, MedHTAPError, ValidationFailed


class MalformedEnvelope(MedHTAPError):
    """The body is not a JSON envelope of the national interface."""

    code = "MALFORMED_ENVELOPE"


class InvalidMsgid(ValidationFailed):
    """msgid is not institution code + yyyyMMddHHmmss + a 4-digit sequence."""

    code = "INVALID_MSGID"


class UnknownInfno(MedHTAPError):
    """No transaction has this infno."""

    code = "UNKNOWN_INFNO"


class NotSupportedYet(MedHTAPError):
    """The transaction is part of the interface but its service is not built yet."""

    code = "NOT_SUPPORTED_YET"


class InstitutionMismatch(Forbidden):
    """fixmedins_code is not the institution the API key is bound to."""

    code = "FIXMEDINS_MISMATCH"


class MsgidConflict(Conflict):
    """This msgid was used for a different message."""

    code = "MSGID_CONFLICT"


class ReversedBeforeArrival(Conflict):
    """A 2601 reversed this msgid before it arrived: it must never take effect."""

    code = "REVERSED_BEFORE_ARRIVAL"


class MessageReversed(Conflict):
    """The message was reversed by a 2601: its stored answer no longer holds."""

    code = "MESSAGE_REVERSED"


class NotReversible(MedHTAPError):
    """2601 names a transaction that cannot be reversed, or the wrong oinfno."""

    code = "NOT_REVERSIBLE"


class AmountMismatch(ValidationFailed):
    """An amount the HIS sent differs from the platform's computation."""

    code = "AMOUNT_MISMATCH"
