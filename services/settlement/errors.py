"""Settlement domain errors: each carries its HTTP status and machine code."""

from __future__ import annotations

from medhtap.platform.errors import Conflict, MedHTAPError, NotFound, ValidationFailed


class PersonNotFound(NotFound):
    """No insured person with this psn_no."""

    code = "PERSON_NOT_FOUND"


class PersonExists(Conflict):
    """A person with this psn_no or id-card number is already registered."""

    code = "PERSON_EXISTS"


class PersonSuspended(Conflict):
    """The person's insurance is suspended: no new visit or settlement."""

    code = "PERSON_SUSPENDED"


class VisitNotFound(NotFound):
    """No visit with this mdtrt_id (or it belongs to another institution's key)."""

    code = "VISIT_NOT_FOUND"


class VisitNotOpen(Conflict):
    """The visit is settled: fees cannot change until the settlement is cancelled."""

    code = "VISIT_NOT_OPEN"


class AlreadySettled(Conflict):
    """The visit is already settled; cancel that settlement first."""

    code = "ALREADY_SETTLED"


class NoFeeLines(ValidationFailed):
    """The visit has no active fee lines to settle."""

    code = "NO_FEE_LINES"


class UnknownInstitution(ValidationFailed):
    """The institution code is not a designated institution."""

    code = "UNKNOWN_INSTITUTION"


class UnknownDiagnosis(ValidationFailed):
    """The main diagnosis is not a known ICD-10 code."""

    code = "UNKNOWN_DIAGNOSIS"


class UnknownItem(ValidationFailed):
    """An item code is not in the insurance catalog."""

    code = "UNKNOWN_ITEM"


class DuplicateFeeLine(Conflict):
    """A feedetl_sn is repeated in the batch or already stored for this visit."""

    code = "DUPLICATE_FEE_LINE"


class FeeLineNotFound(NotFound):
    """No fee line with this feedetl_sn on the visit."""

    code = "FEE_LINE_NOT_FOUND"


class FeeLineRevoked(Conflict):
    """The fee line was already revoked."""

    code = "FEE_LINE_REVOKED"


class NoPolicy(ValidationFailed):
    """No benefit policy applies to this person, visit kind, hospital level and date."""

    code = "NO_POLICY"


class IdempotencyKeyRequired(ValidationFailed):
    """The Idempotency-Key header is missing or malformed."""

    status_code = 400
    code = "IDEMPOTENCY_KEY_REQUIRED"


class IdempotencyConflict(Conflict):
    """This Idempotency-Key was used with a different request."""

    code = "IDEMPOTENCY_CONFLICT"


class SettlementNotFound(NotFound):
    """No settlement with this setl_id."""

    code = "SETTLEMENT_NOT_FOUND"


class NotCancellable(Conflict):
    """Only a settled, not yet cancelled, normal settlement can be cancelled."""

    code = "ALREADY_CANCELLED"


class AmountTooLarge(ValidationFailed):
    """The visit's total is beyond what one settlement may carry."""

    code = "AMOUNT_TOO_LARGE"


class SettlementCancelled(Conflict):
    """The Idempotency-Key names a settlement that was cancelled since: the visit is not
    settled by it. The details carry the reversal's setl_id."""

    code = "SETTLEMENT_CANCELLED"


class ReplayInconsistent(MedHTAPError):
    """The stored answer for this Idempotency-Key names a settlement that is missing or does
    not match the database (data lost by the store). Not retryable: operations must repair.

    500, not 409: nothing the client sent conflicts with anything, and a retry (what 503
    would invite) cannot help; the server's own records disagree, so it refuses to vouch."""

    status_code = 500
    code = "REPLAY_INCONSISTENT"


class InvalidCertno(ValidationFailed):
    """certno is not a valid 18-digit resident id-card number (check digit, birth date,
    region), or its birth date or gender differs from the person's brdy and gend."""

    code = "INVALID_CERTNO"


class NotDischarged(Conflict):
    """An inpatient visit settles only after its discharge (2402) is recorded."""

    code = "NOT_DISCHARGED"


class NotInpatient(Conflict):
    """Only an inpatient visit (admission) has a discharge."""

    code = "NOT_INPATIENT"


class AlreadyDischarged(Conflict):
    """The visit's discharge is already recorded."""

    code = "ALREADY_DISCHARGED"


class VisitCancelled(Conflict):
    """The registration or admission was cancelled (2202/2404): nothing more happens on it."""

    code = "VISIT_CANCELLED"


class VisitHasSettlement(Conflict):
    """The visit has settled fees: cancel its settlement (2208) before the visit."""

    code = "VISIT_HAS_SETTLEMENT"


class InvalidCursor(ValidationFailed):
    """The pagination cursor is not one this API handed out."""

    code = "INVALID_CURSOR"


class DischargeBeforeAdmission(ValidationFailed):
    """The discharge time is before the admission time (begntime)."""

    code = "INVALID_ENDTIME"
